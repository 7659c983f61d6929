"""Fault tests with real processes: the fleet is SIGKILLed and restarted while real agent
processes (spool + uplink) produce, and a Subscribe client that resumes by cursor must see
every event exactly once. Bounded in time; every process is cleaned up."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest

from proto.oko.v1 import stream_pb2
from proto.transport import MAX_BATCH_EVENTS, MAX_MESSAGE_BYTES, bearer_metadata
from tests.fleet import helpers
from tests.fleet.helpers import api_channel
from tests.fleet.processes import ResumingSubscriber, assert_delivered_once_in_order
from tests.support.fleet import FleetCli
from tests.support.net import free_port, wait_until
from tests.uplink.processes import AgentProcess, enrolled_agent

pytestmark = pytest.mark.timeout(150)

EVENTS_PER_AGENT = 3000
AGENTS = 2


def test_fleet_sigkill_and_restart_subscriber_sees_every_event_exactly_once(
    tmp_path: Path,
) -> None:
    fleet = FleetCli(tmp_path / "fleet", free_port(), free_port())
    agents: list[AgentProcess] = []
    subscriber: ResumingSubscriber | None = None
    try:
        fleet.start()
        agents = [enrolled_agent(fleet.handle(), tmp_path, i) for i in range(AGENTS)]
        subscriber = ResumingSubscriber(fleet.api, fleet.ca, fleet.admin_token).start()
        for agent in agents:
            agent.start(events=EVENTS_PER_AGENT, per_append=25, interval=0.1)
        kills = 0
        for threshold in (800, 3000):

            def enough(t: int = threshold) -> bool:
                return len(subscriber.received) >= t

            wait_until(enough, 60, f"{threshold} events")
            fleet.kill()
            kills += 1
            time.sleep(1.0)  # agents keep producing into their spools meanwhile
            fleet.start()
        assert not all(a.produced() for a in agents), "production ended before the last kill"
        wait_until(lambda: all(a.produced() for a in agents), 60, "the sources to finish")
        total = sum(a.spooled()[-1][0] for a in agents)
        wait_until(lambda: len(subscriber.received) >= total, 60, "every event at the subscriber")
        time.sleep(0.5)  # anything extra (a duplicate) would arrive now
        received = list(subscriber.received)
        reconnects = subscriber.reconnects
    finally:
        if subscriber is not None:
            subscriber.stop()
        for agent in agents:
            agent.stop()
        fleet.stop()

    assert total == AGENTS * EVENTS_PER_AGENT
    assert_delivered_once_in_order(received, total)
    assert kills == 2 and reconnects >= 2


async def _abuse(fleet: FleetCli) -> list[grpc.StatusCode]:
    """Malformed and oversized traffic at the real server process, then a good batch."""
    port = int(fleet.api.rsplit(":", 1)[1])
    codes: list[grpc.StatusCode] = []
    async with api_channel(port, fleet.ca) as api:
        ident = await helpers.enroll(api, await helpers.enrollment_token(api, fleet.admin_token))
        enroll_raw: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]
        enroll_raw = api.unary_unary(
            "/oko.v1.AgentService/Enroll", request_serializer=None, response_deserializer=None
        )
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await enroll_raw(b"\xff\xfe garbage", timeout=10)
        codes.append(info.value.code())
    attempts = [
        [helpers.event("cam-1", 1, "face", embedding_dims=MAX_MESSAGE_BYTES // 2 + 10)],
        [helpers.event("cam-1", i) for i in range(MAX_BATCH_EVENTS + 1)],
    ]
    for events in attempts:
        async with ident.channel(fleet.agent_port) as channel:
            stream = helpers.AgentStream(channel)
            stream.send_batch(events)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stream.next("ack", timeout=10)
            codes.append(info.value.code())
    async with ident.channel(fleet.agent_port) as channel:
        stream = helpers.AgentStream(channel)
        good = helpers.event("cam-1", 2)
        stream.send_batch([good])
        assert (await stream.next("ack")).ack.accepted == 1
        stream.close()
    async with api_channel(port, fleet.ca) as api:
        stored = await helpers.event_stub(api).Query(
            stream_pb2.QueryRequest(), metadata=bearer_metadata(fleet.admin_token), timeout=10
        )
    assert [e.event.event_id for e in stored.events] == [good.event_id]
    return codes


def test_fleet_process_refuses_malformed_and_oversized_and_keeps_serving(tmp_path: Path) -> None:
    fleet = FleetCli(tmp_path / "fleet", free_port(), free_port())
    try:
        fleet.start()
        codes = asyncio.run(_abuse(fleet))
        assert fleet.proc is not None and fleet.proc.poll() is None
    finally:
        fleet.stop()
    # An undecodable request is the caller's fault (fleet/decode_guard.py).
    assert codes[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert codes[1:] == [grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INVALID_ARGUMENT]

"""Issue 9, defect 1: one event with an absurd capture time must not stop ingest.

A box sends `capture_time.seconds = 10**13` (year 318857) over its real mutual-TLS stream:
it is refused with a reason in the Ack, every other box keeps being acknowledged and every
subscriber keeps receiving. Behind the validation, the ingest task itself survives any
batch the store cannot take, and health says NOT_SERVING if the task ever ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fleet.broadcast import Broadcaster
from fleet.errors import StoreValueError
from fleet.fleet_metrics import FleetMetrics
from fleet.ingest import Ingestor
from fleet.store.base import Store
from fleet.store.records import EventQuery, NewEvent
from proto.oko.v1 import events_pb2
from tests.fleet.bystanders import Bystanders
from tests.fleet.conftest import Fleet, running_fleet
from tests.fleet.helpers import AgentStream, event, new_device

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


async def _hostile(fleet: Fleet) -> tuple[grpc.aio.Channel, AgentStream]:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca, name="bad-box")
    channel = ident.channel(fleet.server.agent_port)
    stream = AgentStream(channel)
    await stream.next("welcome")
    return channel, stream


def _at(seconds: int, nanos: int = 0) -> events_pb2.Event:
    msg = event("cam-1", seconds % 1000)
    msg.capture_time.seconds = seconds
    msg.capture_time.nanos = nanos
    return msg


async def _stored_ids(fleet: Fleet) -> set[str]:
    rows = await fleet.server.app.store.read_events(EventQuery(limit=100_000))
    return {r.event_id for r in rows}


async def _health(fleet: Fleet) -> int:
    reply = await health_pb2_grpc.HealthStub(fleet.api).Check(
        health_pb2.HealthCheckRequest(service=""), timeout=5
    )
    return int(reply.status)


@pytest.fixture
async def watched(fleet: Fleet) -> AsyncIterator[tuple[Fleet, Bystanders]]:
    bystanders = await Bystanders.join(fleet)
    yield fleet, bystanders
    await bystanders.close()


async def test_far_future_and_absurd_past_capture_times_are_refused_with_reasons(
    watched: tuple[Fleet, Bystanders],
) -> None:
    fleet, bystanders = watched
    channel, stream = await _hostile(fleet)
    now = int(time.time())
    good = event("cam-1", 1)
    bad = [_at(10**13), _at(now + 3 * 86_400), _at(1), _at(now, nanos=2_000_000_000)]
    stream.send_batch([bad[0], good, *bad[1:]])
    ack = (await stream.next("ack")).ack
    reasons = {r.index: r.reason for r in ack.rejected}
    assert ack.accepted == 1 and sorted(reasons) == [0, 2, 3, 4]
    assert "capture_time" in reasons[0] and "skew" in reasons[0]
    assert "skew" in reasons[2]
    assert "capture_time" in reasons[3] and "before" in reasons[3]
    assert "nanos" in reasons[4]
    # The same box goes on being served, and so does everyone else.
    stream.send_batch([event("cam-1", 2)])
    assert (await stream.next("ack")).ack.accepted == 1
    await bystanders.still_served()
    stored = await _stored_ids(fleet)
    assert good.event_id in stored and not stored & {e.event_id for e in bad}
    assert await _health(fleet) == health_pb2.HealthCheckResponse.SERVING
    stream.close()
    await channel.close()


async def test_the_allowed_skew_is_a_setting(tmp_path: Path) -> None:
    async with running_fleet(tmp_path / "f", limits={"max_future_skew_s": 60}) as fleet:
        channel, stream = await _hostile(fleet)
        now = int(time.time())
        stream.send_batch([_at(now + 30), _at(now + 600)])
        ack = (await stream.next("ack")).ack
        assert ack.accepted == 1 and [r.index for r in ack.rejected] == [1]
        assert "max_future_skew_s" in ack.rejected[0].reason
        stream.close()
        await channel.close()


def _new(event_id: str, capture_us: int) -> NewEvent:
    payload = events_pb2.Event(event_id=event_id, camera_id="cam-1").SerializeToString()
    return NewEvent(event_id, "dev-1", "cam-1", "site-a", "zone", capture_us, payload)


async def test_the_store_maps_values_it_cannot_hold(any_store: Store) -> None:
    store = any_store
    with pytest.raises(StoreValueError, match="cannot hold"):
        await store.ingest([[_new("e-1", 10**19)]], 1)
    assert await store.read_events(EventQuery()) == []
    await store.ingest([[_new("e-2", 1)]], 1)  # the store goes on
    assert [e.event_id for e in await store.read_events(EventQuery())] == ["e-2"]


async def test_a_batch_the_store_cannot_take_fails_alone_and_ingest_goes_on(
    any_store: Store,
) -> None:
    """The mechanism under the validation: if some value ever slips past admission, the
    batch it is in fails with a reason, its group's other batches are stored, and the one
    ingest task keeps going (before, the OverflowError ended it without a word)."""
    store = any_store
    metrics = FleetMetrics()
    broadcaster = Broadcaster()
    sub = broadcaster.attach(EventQuery().filter)
    ingestor = Ingestor(store, broadcaster, metrics)
    # Queued before the task starts, so all three are one group commit.
    first = ingestor.submit([_new("a-1", 1), _new("a-2", 2)])
    poison = ingestor.submit([_new("p-1", 3), _new("p-2", 10**19)])
    last = ingestor.submit([_new("c-1", 4)])
    ingestor.start()
    try:
        outcomes = await asyncio.wait_for(asyncio.gather(first, poison, last), 10)
        assert [o.accepted for o in outcomes] == [2, 0, 1]
        assert outcomes[1].failed.startswith("not stored") and "cannot hold" in outcomes[1].failed
        assert not outcomes[0].failed and not outcomes[2].failed
        assert metrics.ingest_failures._value.get() == 1
        later = await asyncio.wait_for(ingestor.submit([_new("d-1", 5)]), 10)
        assert later.accepted == 1
        stored = [e.event_id for e in await store.read_events(EventQuery())]
        assert stored == ["a-1", "a-2", "c-1", "d-1"]
        published = await sub.take()
        assert published is not None and [e.event_id for e in published] == stored
    finally:
        await ingestor.stop()


async def test_health_turns_not_serving_if_the_ingest_task_ends(fleet: Fleet) -> None:
    channel, stream = await _hostile(fleet)
    assert await _health(fleet) == health_pb2.HealthCheckResponse.SERVING
    task = fleet.server.app.ingestor._task  # the one writer task; nothing else may end it
    assert task is not None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    for _ in range(50):
        if await _health(fleet) == health_pb2.HealthCheckResponse.NOT_SERVING:
            break
        await asyncio.sleep(0.1)
    assert await _health(fleet) == health_pb2.HealthCheckResponse.NOT_SERVING
    # Boxes are told to come back later instead of waiting for an Ack that never comes.
    stream.send_batch([event("cam-1", 1)])
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stream.next("ack")
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "ingest task" in (info.value.details() or "")
    await channel.close()

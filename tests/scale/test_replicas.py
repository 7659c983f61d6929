"""Several `oko-fleet serve` processes over one PostgreSQL and one NATS JetStream.

Real processes, real servers (tests/support/pg.py, tests/support/nats.py), real mTLS
agent streams and Subscribe calls. One set of replicas serves the whole module; each test
enrolls its own boxes, so tests do not depend on each other's events (subscribers filter
by camera).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import grpc
import pytest

from proto.oko.v1 import admin_pb2, stream_pb2
from proto.transport import bearer_metadata
from tests.fleet.helpers import (
    AgentStream,
    Identity,
    admin_stub,
    api_channel,
    enroll,
    enrollment_token,
    event,
    event_stub,
)
from tests.fleet.test_webhooks import Receiver
from tests.scale.replicas import Replicas

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    cluster = Replicas(tmp_path_factory.mktemp("replicas"), count=3)
    try:
        yield cluster.start()
    finally:
        cluster.close()


async def _device(replicas: Replicas, name: str) -> Identity:
    async with api_channel(replicas.fleets[0].api_port, replicas.ca) as channel:
        token = await enrollment_token(channel, replicas.admin, "city")
        return await enroll(channel, token, name)


async def _send(ident: Identity, agent_port: int, camera: str, batches: int, size: int) -> None:
    async with ident.channel(agent_port) as channel:
        stream = AgentStream(channel)
        for b in range(batches):
            stream.send_batch([event(camera, b * size + i) for i in range(size)])
            ack = (await stream.next("ack", timeout=30)).ack
            assert ack.accepted == size and not ack.rejected
        stream.close()


async def _subscribe(
    port: int, replicas: Replicas, cameras: list[str], want: int, after: int = 0
) -> list[stream_pb2.EventEnvelope]:
    got: list[stream_pb2.EventEnvelope] = []
    async with api_channel(port, replicas.ca) as channel:
        call = event_stub(channel).Subscribe(
            stream_pb2.SubscribeRequest(
                filter=stream_pb2.EventFilter(camera_ids=cameras), resume_cursor=after
            ),
            metadata=bearer_metadata(replicas.admin),
        )
        async for envelope in call:
            got.append(envelope)
            if len(got) >= want:
                call.cancel()
                break
    return got


def _check_order(got: list[stream_pb2.EventEnvelope]) -> None:
    cursors = [e.cursor for e in got]
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)
    assert len({e.event.event_id for e in got}) == len(got)


async def test_every_replica_ingests_and_every_subscriber_sees_all_in_cursor_order(
    replicas: Replicas,
) -> None:
    boxes = [await _device(replicas, f"box-{i}") for i in range(3)]
    cameras = [f"cam-order-{i}" for i in range(3)]
    batches, size = 20, 50
    want = len(boxes) * batches * size
    readers = [
        asyncio.create_task(_subscribe(f.api_port, replicas, cameras, want))
        for f in replicas.fleets
    ]
    await asyncio.sleep(1.0)  # subscribers attached: they must see the live path
    await asyncio.gather(
        *(
            _send(box, fleet.agent_port, camera, batches, size)
            for box, fleet, camera in zip(boxes, replicas.fleets, cameras, strict=True)
        )
    )
    results = await asyncio.wait_for(asyncio.gather(*readers), 60)
    for got in results:
        assert len(got) == want
        _check_order(got)
    # Every replica delivered the same stream: same events, same cursors, same order.
    assert len({tuple(e.cursor for e in got) for got in results}) == 1


async def test_a_subscriber_resumes_on_another_replica_after_one_is_killed(
    replicas: Replicas,
) -> None:
    box = await _device(replicas, "box-resume")
    camera = "cam-resume"
    victim = replicas.fleets[2]
    await _send(box, replicas.fleets[0].agent_port, camera, batches=10, size=50)
    first = await _subscribe(victim.api_port, replicas, [camera], want=200)
    victim.kill()
    try:
        await _send(box, replicas.fleets[1].agent_port, camera, batches=10, size=50)
        rest = await _subscribe(
            replicas.fleets[0].api_port, replicas, [camera], want=800, after=first[-1].cursor
        )
    finally:
        victim.start()
    every = first + rest
    assert len(every) == 1000
    _check_order(every)


async def test_config_push_command_and_revocation_reach_a_box_on_another_replica(
    replicas: Replicas,
) -> None:
    box = await _device(replicas, "box-control")
    on_b = replicas.fleets[1]
    async with (
        box.channel(on_b.agent_port) as channel,
        api_channel(replicas.fleets[0].api_port, replicas.ca) as api,
    ):
        stream = AgentStream(channel)
        stream.send_batch([event("cam-control", 0)])
        await stream.next("ack")
        meta = bearer_metadata(replicas.admin)
        # The box is on replica 1; replica 0 answers for it (presence through notices).
        shown = await admin_stub(api).GetDevice(
            admin_pb2.GetDeviceRequest(device_id=box.device_id), metadata=meta
        )
        assert shown.status == "online"
        started = time.monotonic()
        await admin_stub(api).SetConfig(
            admin_pb2.SetConfigRequest(
                device_id=box.device_id, document="cameras: []\n", expected_version=0
            ),
            metadata=meta,
        )
        desired = (await stream.next("desired", timeout=10)).desired
        pushed_s = time.monotonic() - started
        assert desired.version == 1
        sent = await admin_stub(api).SendCommand(
            admin_pb2.SendCommandRequest(device_id=box.device_id, kind="snapshot"), metadata=meta
        )
        assert sent.delivered
        command = (await stream.next("command", timeout=10)).command
        assert (command.command_id, command.kind) == (sent.command_id, "snapshot")
        started = time.monotonic()
        await admin_stub(api).RevokeDevice(
            admin_pb2.RevokeDeviceRequest(device_id=box.device_id, reason="stolen"), metadata=meta
        )
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await stream.next("ack", timeout=10)
        cut_s = time.monotonic() - started
        assert ended.value.code() == grpc.StatusCode.PERMISSION_DENIED
    print(f"config push across replicas {pushed_s * 1000:.0f} ms, revocation {cut_s * 1000:.0f} ms")
    # And the revoked box cannot come back through any replica.
    for fleet in replicas.fleets:
        async with box.channel(fleet.agent_port) as channel:
            again = AgentStream(channel)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await again.next("ack", timeout=10)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


async def _until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_webhooks_deliver_once_across_replicas_and_move_when_the_holder_dies(
    replicas: Replicas, receiver: Receiver
) -> None:
    box = await _device(replicas, "box-hook")
    camera = "cam-hook"
    async with api_channel(replicas.fleets[0].api_port, replicas.ca) as api:
        await admin_stub(api).CreateWebhook(
            admin_pb2.CreateWebhookRequest(url=receiver.url, camera_ids=[camera]),
            metadata=bearer_metadata(replicas.admin),
        )
    await _send(box, replicas.fleets[1].agent_port, camera, batches=5, size=40)
    await _until(lambda: len(receiver.delivered_ids()) >= 200, 30, "200 deliveries")
    await asyncio.sleep(1.0)  # a second deliverer, if there were one, would have posted by now
    assert len(receiver.delivered_ids()) == 200  # three replicas, each event POSTed once
    holder = replicas.fleet(replicas.lease_holder("webhooks"))
    holder.kill()
    try:
        await _send(box, replicas.fleets[2].agent_port, camera, batches=5, size=40)
        await _until(lambda: len(set(receiver.delivered_ids())) >= 400, 60, "400 deliveries")
        # A batch in flight when the holder died may come again (its cursor was not yet
        # saved); receivers drop those by cursor. Nothing else repeats, nothing is missing.
        ids = receiver.delivered_ids()
        assert len(set(ids)) == 400 and len(ids) - 400 <= 100
        assert replicas.lease_holder("webhooks") not in ("", holder.args[-1])
    finally:
        holder.start()


async def test_one_setconfigs_reaches_boxes_on_every_replica(replicas: Replicas) -> None:
    """One SetConfigs on replica 0: its own box at once, the box on replica 1 by notice."""
    async with api_channel(replicas.fleets[0].api_port, replicas.ca) as api:
        boxes = [
            await enroll(api, await enrollment_token(api, replicas.admin, "push-many"), f"pm-{i}")
            for i in range(3)
        ]
        ports = [replicas.fleets[i].agent_port for i in (0, 1, 1)]
        channels = [b.channel(p) for b, p in zip(boxes, ports, strict=True)]
        streams = [AgentStream(c) for c in channels]
        try:
            for s in streams:
                await s.next("welcome")
            started = time.monotonic()
            reply = await admin_stub(api).SetConfigs(
                admin_pb2.SetConfigsRequest(selector="site=push-many", document="cameras: []\n"),
                metadata=bearer_metadata(replicas.admin),
                timeout=30,
            )
            assert (reply.matched, reply.changed, reply.delivered) == (3, 3, 1)
            for stream in streams:
                got = (await stream.next("desired", timeout=10)).desired
                assert got.version == 1 and got.document == "cameras: []\n"
            pushed_s = time.monotonic() - started
        finally:
            for stream in streams:
                stream.close()
            for channel in channels:
                await channel.close()
    print(f"SetConfigs across replicas {pushed_s * 1000:.0f} ms")

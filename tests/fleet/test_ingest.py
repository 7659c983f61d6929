"""Ingest over the real agent stream: ack after commit, dedupe, rejects, limits."""

from __future__ import annotations

import grpc
import pytest

from fleet.store.records import EventQuery
from proto.oko.v1 import admin_pb2, agent_pb2, events_pb2
from proto.transport import MAX_BATCH_EVENTS, MAX_MESSAGE_BYTES, bearer_metadata
from tests.fleet.conftest import Fleet
from tests.fleet.helpers import AgentStream, Identity, admin_stub, event, new_device

pytestmark = pytest.mark.anyio


async def _connected(fleet: Fleet) -> tuple[Identity, grpc.aio.Channel, AgentStream]:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    channel = ident.channel(fleet.server.agent_port)
    stream = AgentStream(channel)
    await stream.next("welcome")
    return ident, channel, stream


async def _stored(fleet: Fleet) -> list[events_pb2.Event]:
    rows = await fleet.server.app.store.read_events(EventQuery(limit=100_000))
    return [events_pb2.Event.FromString(r.payload) for r in rows]


async def test_ack_comes_after_commit_and_resends_are_deduplicated(fleet: Fleet) -> None:
    ident, channel, stream = await _connected(fleet)
    events = [event("cam-1", i, kind) for i, kind in enumerate(["line_crossing", "zone", "face"])]
    first = stream.send_batch(events)
    ack = (await stream.next("ack")).ack
    assert (ack.batch_id, ack.accepted, ack.duplicates, len(ack.rejected)) == (first, 3, 0, 0)
    assert ack.last_cursor == 3
    stored = await _stored(fleet)  # already committed when the ack arrived
    assert [e.event_id for e in stored] == [e.event_id for e in events]
    assert {e.device_id for e in stored} == {ident.device_id}  # stamped from the certificate
    assert {e.site for e in stored} == {"site-a"}

    # A resend after a "lost ack", mixed with one new event, within one batch twice over.
    new = event("cam-1", 9)
    stream.send_batch([*events, new, new])
    ack = (await stream.next("ack")).ack
    assert (ack.accepted, ack.duplicates) == (1, 4)
    assert len(await _stored(fleet)) == 4
    stream.close()
    await channel.close()


async def test_malformed_events_are_rejected_with_reasons_and_the_rest_stored(fleet: Fleet) -> None:
    _, channel, stream = await _connected(fleet)
    good = event("cam-1", 1)
    no_id = event("cam-1", 2)
    no_id.event_id = ""
    no_body = event("cam-1", 3)
    no_body.ClearField("line_crossing")
    other_device = event("cam-1", 4)
    other_device.device_id = "dev-someone-else"
    short_embedding = event("cam-1", 5, "face")
    short_embedding.face.embedding = b"\x00" * 10
    stream.send_batch([no_id, good, no_body, other_device, short_embedding])
    ack = (await stream.next("ack")).ack
    assert ack.accepted == 1
    reasons = {r.index: r.reason for r in ack.rejected}
    assert sorted(reasons) == [0, 2, 3, 4]
    assert "event_id" in reasons[0] and "body" in reasons[2]
    assert "device_id" in reasons[3] and "embedding" in reasons[4]
    assert [e.event_id for e in await _stored(fleet)] == [good.event_id]
    stream.close()
    await channel.close()


async def _ends_with(stream: AgentStream) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stream.next("ack", timeout=10)
    return info.value.code()


async def test_oversized_message_is_refused_and_the_server_keeps_serving(fleet: Fleet) -> None:
    _, channel, stream = await _connected(fleet)
    huge = event("cam-1", 1, "face", embedding_dims=MAX_MESSAGE_BYTES // 2 + 1000)
    stream.send_batch([huge])
    assert await _ends_with(stream) == grpc.StatusCode.RESOURCE_EXHAUSTED
    await channel.close()
    _, channel, stream = await _connected(fleet)
    stream.send_batch([event("cam-1", 2)])
    assert (await stream.next("ack")).ack.accepted == 1
    assert len(await _stored(fleet)) == 1
    stream.close()
    await channel.close()


async def test_too_many_events_in_one_batch_stores_nothing_of_it(fleet: Fleet) -> None:
    _, channel, stream = await _connected(fleet)
    stream.send_batch([event("cam-1", i) for i in range(MAX_BATCH_EVENTS + 1)])
    assert await _ends_with(stream) == grpc.StatusCode.INVALID_ARGUMENT
    assert await _stored(fleet) == []
    await channel.close()


async def test_stream_must_start_with_hello(fleet: Fleet) -> None:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        stream._outbox.get_nowait()  # drop the Hello the helper queued
        stream.send_batch([event("cam-1", 1)])
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stream.next("welcome")
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "Hello" in (info.value.details() or "")
    assert await _stored(fleet) == []


async def test_garbage_bytes_on_the_stream_are_refused(fleet: Fleet) -> None:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    async with ident.channel(fleet.server.agent_port) as channel:
        connect: grpc.aio.StreamStreamMultiCallable[bytes, bytes]
        connect = channel.stream_stream(
            "/oko.v1.AgentService/Connect", request_serializer=None, response_deserializer=None
        )

        async def garbage():
            yield b"\xff\xff\xff\xff not a protobuf"

        call = connect(garbage())
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in call:
                pass
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # fleet/decode_guard.py
    # ...and the server still serves.
    _, channel, stream = await _connected(fleet)
    stream.send_batch([event("cam-1", 1)])
    assert (await stream.next("ack")).ack.accepted == 1
    stream.close()
    await channel.close()


async def test_heartbeat_health_shows_in_device_and_camera_lists(fleet: Fleet) -> None:
    ident, channel, stream = await _connected(fleet)
    stream.send(
        agent_pb2.AgentMessage(
            heartbeat=agent_pb2.Heartbeat(
                spool_depth=1234,
                dropped_events=7,
                cpu_percent=55.0,
                cameras=[
                    agent_pb2.CameraHealth(
                        camera_id="cam-1", online=True, fps=4.8, inference_ms=11.5
                    )
                ],
            )
        )
    )
    stream.send_batch([event("cam-1", 1)])
    await stream.next("ack")  # stream order: the heartbeat was handled before
    meta = bearer_metadata(fleet.admin)
    device = await admin_stub(fleet.api).GetDevice(
        admin_pb2.GetDeviceRequest(device_id=ident.device_id), metadata=meta
    )
    assert (device.status, device.spool_depth, device.dropped_events) == ("online", 1234, 7)
    (cam,) = device.cameras
    assert (cam.camera_id, cam.online, round(cam.fps, 1)) == ("cam-1", True, 4.8)
    assert cam.last_event_at.seconds > 0
    stream.close()
    await channel.close()

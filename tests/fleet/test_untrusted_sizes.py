"""Issue 9, defect 2: one oversized event must not block every subscriber for good.

Every event is bounded at admission (its serialized size, each string, the embedding, each
list), so any stored event fits in one message; Query pages and SubscribeBatches messages
are cut by bytes as well as by count, so many large events never add up past the 4 MiB
message limit either. Real boxes over mutual TLS, real subscribers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from fleet.store.records import EventQuery, NewEvent
from proto.oko.v1 import events_pb2, stream_pb2
from proto.transport import MAX_MESSAGE_BYTES, bearer_metadata
from tests.fleet.bystanders import Bystanders
from tests.fleet.conftest import Fleet, running_fleet
from tests.fleet.helpers import AgentStream, event, event_stub, new_device

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


async def _box(fleet: Fleet, name: str = "big-box") -> tuple[grpc.aio.Channel, AgentStream]:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca, name=name)
    channel = ident.channel(fleet.server.agent_port)
    stream = AgentStream(channel)
    await stream.next("welcome")
    return channel, stream


@pytest.fixture
async def watched(fleet: Fleet) -> AsyncIterator[tuple[Fleet, Bystanders]]:
    bystanders = await Bystanders.join(fleet)
    yield fleet, bystanders
    await bystanders.close()


async def test_oversized_events_and_fields_are_refused_with_reasons(
    watched: tuple[Fleet, Bystanders],
) -> None:
    fleet, bystanders = watched
    channel, stream = await _box(fleet)
    huge = event("cam-1", 1)
    huge.line_crossing.label = "x" * (3 * 1024 * 1024)  # under the 4 MiB message limit
    long_label = event("cam-1", 2)
    long_label.line_crossing.label = "y" * 1000
    many_models = event("cam-1", 3)
    many_models.models.extend(events_pb2.ModelVersion(name=f"m{i}") for i in range(100))
    wide_face = event("cam-1", 4, "face", embedding_dims=5000)
    long_model_name = event("cam-1", 5)
    long_model_name.models.add(name="n" * 300)
    good = event("cam-1", 6, "face")
    stream.send_batch([huge, long_label, many_models, wide_face, long_model_name, good])
    ack = (await stream.next("ack")).ack
    reasons = [r.reason for r in ack.rejected]
    assert ack.accepted == 1 and len(reasons) == 5
    assert "bytes, limit 65536" in reasons[0] and "max_event_bytes" in reasons[0]
    assert "line_crossing.label has 1000 characters, limit 256" in reasons[1]
    assert "models has 100 items, limit 64" in reasons[2]
    assert "face.dimensions" in reasons[3]
    assert "models[0].name has 300 characters" in reasons[4]
    await bystanders.still_served()
    rows = await fleet.server.app.store.read_events(EventQuery(limit=1000))
    assert max(len(r.payload) for r in rows) <= 64 * 1024
    stream.close()
    await channel.close()


def _large(camera: str, sequence: int) -> events_pb2.Event:
    """About 190 kB, allowed by the fleet below (limits raised to their maximum)."""
    msg = event(camera, sequence)
    for i in range(16):
        msg.models.add(name=f"{i}" + "n" * 3990, version="v" * 4000, sha256="s" * 4000)
    return msg


async def test_pages_and_batches_are_cut_by_bytes_so_large_events_always_flow(
    tmp_path: Path,
) -> None:
    limits = {"max_event_bytes": 1024 * 1024, "max_text_chars": 4096, "max_list_items": 4096}
    async with running_fleet(tmp_path / "f", limits=limits) as fleet:
        meta = bearer_metadata(fleet.admin)
        stub = event_stub(fleet.api)
        batches = stub.SubscribeBatches(stream_pb2.SubscribeRequest(), metadata=meta)
        channel, stream = await _box(fleet)
        sent = [_large("cam-1", i) for i in range(30)]  # ~5.7 MB in all: > one message
        for start in range(0, 30, 10):
            stream.send_batch(sent[start : start + 10])
            assert (await stream.next("ack")).ack.accepted == 10

        # Query: every page below the message limit, all 30 exactly once, in order.
        got: list[str] = []
        after = 0
        while True:
            reply = await stub.Query(
                stream_pb2.QueryRequest(after_cursor=after, limit=1000), metadata=meta, timeout=10
            )
            assert reply.ByteSize() <= 1024 * 1024 + 64 * len(reply.events)
            got.extend(e.event.event_id for e in reply.events)
            if not reply.next_cursor:
                break
            after = reply.next_cursor
        assert got == [e.event_id for e in sent]

        # SubscribeBatches: the same events, in messages cut at max_page_bytes.
        seen: list[str] = []

        async def take() -> None:
            async for message in batches:
                assert message.ByteSize() < MAX_MESSAGE_BYTES // 2
                seen.extend(e.event.event_id for e in message.envelopes)
                if len(seen) >= 30:
                    return

        await asyncio.wait_for(take(), 30)
        assert seen == [e.event_id for e in sent]
        batches.cancel()
        stream.close()
        await channel.close()


async def test_an_oversized_event_stored_before_the_bounds_no_longer_blocks_streams(
    fleet: Fleet,
) -> None:
    """A 5 MiB event in the store (as an unbounded fleet accepted it) used to end every
    Subscribe, SubscribeBatches and Query at it, for good. It is delivered header-only now,
    and everything after it flows."""
    meta = bearer_metadata(fleet.admin)
    stub = event_stub(fleet.api)
    channel, stream = await _box(fleet)
    before, after = event("cam-1", 1), event("cam-1", 3)
    stream.send_batch([before])
    await stream.next("ack")
    legacy = event("cam-1", 2)
    legacy.line_crossing.label = "x" * (5 * 1024 * 1024)  # beyond the 4 MiB message limit
    legacy.site = "site-a"
    row = NewEvent(
        legacy.event_id,
        (await fleet.server.app.store.list_devices("site-a"))[0].device_id,
        "cam-1",
        "site-a",
        "line_crossing",
        legacy.capture_time.seconds * 1_000_000,
        legacy.SerializeToString(),
    )
    assert (await fleet.server.app.ingestor.submit([row])).accepted == 1
    stream.send_batch([after])
    await stream.next("ack")
    wanted = [before.event_id, legacy.event_id, after.event_id]

    async def first_three(call: object, unpack: object) -> list[events_pb2.Event]:
        got: list[events_pb2.Event] = []
        async for message in call:  # type: ignore[attr-defined]
            got.extend(unpack(message))  # type: ignore[operator]
            if len(got) >= 3:
                call.cancel()  # type: ignore[attr-defined]
                return got
        return got

    single = stub.Subscribe(stream_pb2.SubscribeRequest(), metadata=meta)
    batched = stub.SubscribeBatches(stream_pb2.SubscribeRequest(), metadata=meta)
    one = await asyncio.wait_for(first_three(single, lambda m: [m.event]), 20)
    many = await asyncio.wait_for(
        first_three(batched, lambda m: [e.event for e in m.envelopes]), 20
    )
    reply = await stub.Query(stream_pb2.QueryRequest(limit=10), metadata=meta, timeout=10)
    for got in (one, many, [e.event for e in reply.events]):
        assert [e.event_id for e in got] == wanted
        assert got[1].camera_id == "cam-1" and got[1].WhichOneof("body") is None  # header only
        assert got[2].line_crossing.label == "person"
    stream.close()
    await channel.close()


async def test_a_filter_with_too_many_values_is_refused(fleet: Fleet) -> None:
    """Callers' filters are bounded too: each value is an SQL parameter of every page read
    and is held for the life of a subscription (50,000 used to be accepted)."""
    meta = bearer_metadata(fleet.admin)
    huge = stream_pb2.EventFilter(camera_ids=[f"cam-{i}" for i in range(50_000)])
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await event_stub(fleet.api).Query(
            stream_pb2.QueryRequest(filter=huge), metadata=meta, timeout=10
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "filter.camera_ids has 50000 values, limit 1000" in (info.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in event_stub(fleet.api).Subscribe(
            stream_pb2.SubscribeRequest(filter=huge), metadata=meta, timeout=10
        ):
            pass
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT

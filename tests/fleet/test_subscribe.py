"""Subscribe (filters, resume, slow consumers) and Query over real gRPC."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from fleet.services.convert import encode_envelope, encode_envelope_batches
from fleet.store.records import StoredEvent
from fleet.wire import varint
from proto.oko.v1 import events_pb2, stream_pb2
from proto.transport import bearer_metadata
from tests.fleet.conftest import Fleet, running_fleet
from tests.fleet.helpers import AgentStream, event, event_stub, new_device

pytestmark = pytest.mark.anyio


async def _produce(fleet: Fleet, batches: list[list[events_pb2.Event]]) -> None:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca, name="producer")
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        for batch in batches:
            stream.send_batch(batch)
        for _ in batches:
            await stream.next("ack")
        stream.close()


async def _take(call: object, n: int, timeout: float = 10) -> list[stream_pb2.EventEnvelope]:
    out: list[stream_pb2.EventEnvelope] = []

    async def _read() -> None:
        async for env in call:  # type: ignore[attr-defined]
            out.append(env)
            if len(out) == n:
                return

    await asyncio.wait_for(_read(), timeout)
    return out


def _subscribe(fleet: Fleet, **kwargs: Any) -> object:
    return event_stub(fleet.api).Subscribe(
        stream_pb2.SubscribeRequest(**kwargs),
        metadata=bearer_metadata(fleet.admin),
    )


async def test_filtered_subscription_resumes_from_cursor_without_gaps_or_repeats(
    fleet: Fleet,
) -> None:
    wanted = stream_pb2.EventFilter(camera_ids=["cam-a"], types=["zone", "face"])
    call = _subscribe(fleet, filter=wanted)
    batch1 = [
        event("cam-a", 1, "zone"),
        event("cam-b", 2, "zone"),
        event("cam-a", 3),
        event("cam-a", 4, "face"),
    ]
    await _produce(fleet, [batch1])
    got = await _take(call, 2)
    assert [e.event.event_id for e in got] == [batch1[0].event_id, batch1[3].event_id]
    call.cancel()  # type: ignore[attr-defined]

    # While "disconnected", more events arrive; reconnect with the last cursor processed.
    batch2 = [event("cam-a", 5, "zone"), event("cam-a", 6, "face"), event("cam-c", 7, "face")]
    await _produce(fleet, [batch2])
    resumed = _subscribe(fleet, filter=wanted, resume_cursor=got[-1].cursor)
    more = await _take(resumed, 2)
    assert [e.event.event_id for e in more] == [batch2[0].event_id, batch2[1].event_id]
    cursors = [e.cursor for e in got + more]
    assert cursors == sorted(set(cursors))
    # Live events after the replay arrive on the same stream.
    batch3 = [event("cam-a", 8, "face")]
    await _produce(fleet, [batch3])
    (live,) = await _take(resumed, 1)
    assert live.event.event_id == batch3[0].event_id
    resumed.cancel()  # type: ignore[attr-defined]


async def test_from_now_skips_history(fleet: Fleet) -> None:
    await _produce(fleet, [[event("cam-a", 1)]])
    call = _subscribe(fleet, from_now=True)
    await asyncio.sleep(0.2)
    fresh = event("cam-a", 2)
    await _produce(fleet, [[fresh]])
    (env,) = await _take(call, 1)
    assert env.event.event_id == fresh.event_id
    call.cancel()  # type: ignore[attr-defined]


async def test_slow_subscriber_gets_everything_once_and_does_not_stall_ingest(
    tmp_path: Path,
) -> None:
    async with running_fleet(tmp_path / "fleet", subscriber_queue_events=100) as fleet:
        slow = _subscribe(fleet)
        await asyncio.sleep(0.2)  # attached, but reads nothing while ingest runs
        batches = [
            [event(f"cam-{i % 3}", i * 100 + j, "face") for j in range(100)] for i in range(30)
        ]
        await _produce(fleet, batches)  # all 30 acks arrive although nobody reads
        assert fleet.server.app.broadcaster.overflows >= 1
        got = await _take(slow, 3000, timeout=30)
        assert [e.event.event_id for e in got] == [e.event_id for b in batches for e in b]
        cursors = [e.cursor for e in got]
        assert cursors == sorted(set(cursors))
        slow.cancel()  # type: ignore[attr-defined]


async def test_subscribe_needs_a_token_and_known_types(fleet: Fleet) -> None:
    stub = event_stub(fleet.api)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _take(stub.Subscribe(stream_pb2.SubscribeRequest()), 1)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _take(_subscribe(fleet, filter=stream_pb2.EventFilter(types=["faces"])), 1)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "faces" in (info.value.details() or "")


async def test_query_by_time_camera_type_and_site_with_paging(fleet: Fleet) -> None:
    events = []
    for i in range(25):
        e = event("cam-a" if i % 2 else "cam-b", i, "face" if i % 5 == 0 else "zone")
        e.capture_time.FromSeconds(1_700_000_000 + i * 60)
        events.append(e)
    await _produce(fleet, [events])
    stub = event_stub(fleet.api)
    meta = bearer_metadata(fleet.admin)

    def at(minute: int) -> Timestamp:
        stamp = Timestamp()
        stamp.FromSeconds(1_700_000_000 + minute * 60)
        return stamp

    got: list[str] = []
    after = 0
    while True:
        reply = await stub.Query(
            stream_pb2.QueryRequest(
                filter=stream_pb2.EventFilter(camera_ids=["cam-a"], sites=["site-a"]),
                start_time=at(4),
                end_time=at(20),
                after_cursor=after,
                limit=3,
            ),
            metadata=meta,
        )
        got += [e.event.event_id for e in reply.events]
        if not reply.next_cursor:
            break
        after = reply.next_cursor
    assert got == [e.event_id for i, e in enumerate(events) if i % 2 and 4 <= i < 20]
    faces = await stub.Query(
        stream_pb2.QueryRequest(filter=stream_pb2.EventFilter(types=["face"])), metadata=meta
    )
    assert [e.event.event_id for e in faces.events] == [
        events[i].event_id for i in (0, 5, 10, 15, 20)
    ]
    other_site = await stub.Query(
        stream_pb2.QueryRequest(filter=stream_pb2.EventFilter(sites=["elsewhere"])), metadata=meta
    )
    assert list(other_site.events) == []


def test_envelope_fast_path_encodes_what_the_generated_class_would() -> None:
    payload = event("cam-a", 1, "face").SerializeToString()
    for cursor, received_us in (
        (1, 1_700_000_000_123_456),
        (2**40, 1_700_000_000_000_000),
        (300, 0),
    ):
        stored = StoredEvent(
            cursor=cursor,
            event_id="x",
            device_id="d",
            camera_id="c",
            site="s",
            type="face",
            capture_us=0,
            received_us=received_us,
            payload=payload,
        )
        expected = stream_pb2.EventEnvelope(
            cursor=cursor, event=events_pb2.Event.FromString(payload)
        )
        if received_us:
            expected.received_at.FromMicroseconds(received_us)
        assert stream_pb2.EventEnvelope.FromString(encode_envelope(stored)) == expected


def test_batch_encoder_and_varints_match_the_generated_classes() -> None:
    # The reference decoder; private, so the protobuf stubs leave it out.
    from google.protobuf.internal.decoder import _DecodeVarint  # type: ignore[attr-defined]

    for value in (0, 1, 127, 128, 16383, 16384, 2**21 - 1, 2**21, 2**35, 2**63 - 1):
        assert _DecodeVarint(varint(value), 0) == (value, len(varint(value)))
    events = [
        StoredEvent(
            cursor=i + 1,
            event_id=str(i),
            device_id="d",
            camera_id="c",
            site="s",
            type="face",
            capture_us=0,
            received_us=1_700_000_000_000_000 + i // 3,
            payload=event("cam-a", i, "face").SerializeToString(),
        )
        for i in range(7)
    ]
    batches = list(encode_envelope_batches(events, max_events=3, max_bytes=10**6))
    decoded = [stream_pb2.EventEnvelopeBatch.FromString(b).envelopes for b in batches]
    assert [len(b) for b in decoded] == [3, 3, 1]
    flat = [env for batch in decoded for env in batch]
    assert flat == [stream_pb2.EventEnvelope.FromString(encode_envelope(e)) for e in events]
    assert [env.received_at.ToMicroseconds() for env in flat] == [e.received_us for e in events]
    small = list(encode_envelope_batches(events, max_events=100, max_bytes=2000))
    assert (
        len(small) > 1
        and sum(len(stream_pb2.EventEnvelopeBatch.FromString(b).envelopes) for b in small) == 7
    )


async def test_subscribe_batches_resumes_like_subscribe(fleet: Fleet) -> None:
    sent = [event("cam-a", i) for i in range(10)]
    await _produce(fleet, [sent[:6], sent[6:]])
    stub = event_stub(fleet.api)
    call = stub.SubscribeBatches(
        stream_pb2.SubscribeRequest(resume_cursor=3, max_batch=4),
        metadata=bearer_metadata(fleet.admin),
    )
    got: list[stream_pb2.EventEnvelope] = []

    async def _read() -> None:
        async for batch in call:
            assert 0 < len(batch.envelopes) <= 4
            got.extend(batch.envelopes)
            if len(got) >= 7:
                return

    await asyncio.wait_for(_read(), 10)
    call.cancel()
    assert [e.event.event_id for e in got] == [e.event_id for e in sent[3:]]
    assert [e.cursor for e in got] == list(range(4, 11))

"""The sequencer merges commits arriving in any order (or never) into one ordered stream,
over a real PostgreSQL store; and the frames that carry commits between replicas."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from fleet import event_frames
from fleet.broadcast import Broadcaster
from fleet.bus import LocalBus, Notice
from fleet.sequencer import Sequencer
from fleet.store.pg import PostgresStore
from fleet.store.records import EventFilter, NewEvent, StoredEvent
from tests.support.pg import store_url_for

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _new(i: int) -> NewEvent:
    return NewEvent(f"s-{i}", "dev-ü", "cam-1", "site", "zone", 7, bytes([i % 256]) * 40)


async def test_out_of_order_and_missing_commits_come_out_in_cursor_order() -> None:
    store = await PostgresStore.open(store_url_for(uuid.uuid4().hex))
    broadcaster = Broadcaster()
    sub = broadcaster.attach(EventFilter())
    sequencer = Sequencer(store, broadcaster, LocalBus(), gap_wait_s=0.05, poll_s=0.2)
    await sequencer.start()
    try:
        commits = [
            (await store.ingest([[_new(c * 10 + i) for i in range(10)]], 1)).stored
            for c in range(6)
        ]
        # Commit 2 never arrives (its replica died before publishing), 4 twice, 5 first.
        for chunk in (commits[5], commits[0], commits[4], commits[1], commits[4], commits[3]):
            sequencer.offer(chunk)
        got: list[StoredEvent] = []
        while len(got) < 60:
            taken = await asyncio.wait_for(sub.take(), 5)
            assert taken is not None
            got += taken
        assert [e.cursor for e in got] == list(range(1, 61))
        assert sequencer.filled == 10  # commit 2, read from the store
        # Nothing offered at all (NATS down): the poll finds new commits by itself.
        late = (await store.ingest([[_new(100)]], 1)).stored
        assert await asyncio.wait_for(sub.take(), 5) == late
    finally:
        await sequencer.stop()
        await store.close()


def test_frames_round_trip_split_under_the_size_and_refuse_damage() -> None:
    events = [
        StoredEvent(i, f"id-{i}", "dev-ü", "cam", "site", "face", i * 3, i * 5, b"\x00" * 900)
        for i in range(1, 301)
    ]
    frames = list(event_frames.split(events, max_bytes=64 * 1024))
    assert len(frames) > 1 and all(len(f) <= 64 * 1024 for f, _ in frames)
    back = [e for frame, _ in frames for e in event_frames.decode(frame)]
    assert back == events and sum(n for _, n in frames) == 300
    whole = frames[0][0]
    for damaged in (whole[:-1], whole + b"x", b"XXXX" + whole[4:], whole[:3]):
        with pytest.raises(ValueError):
            event_frames.decode(damaged)


def test_notices_are_bounded_and_typed() -> None:
    notice = Notice("config", {"device_id": "d1"}, "r1")
    assert Notice.decode(notice.encode()) == notice
    for bad in (b'{"kind":"drop tables"}', b'{"kind":"config","data":{"a":1}}', b"[1]"):
        with pytest.raises(ValueError):
            Notice.decode(bad)
    with pytest.raises(ValueError, match="over"):
        Notice.decode(b" " * 70_000)

"""The spool as a queue: order, paging, acks, duplicates, persistence, concurrency."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agent.errors import SpoolError
from agent.spool import Spool
from proto.oko.v1 import events_pb2
from tests.support.events import make_event, make_events


def _decode(payload: bytes) -> events_pb2.Event:
    event = events_pb2.Event()
    event.ParseFromString(payload)
    return event


def test_peek_returns_append_order_and_per_camera_order(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        sent = []
        for i in range(1, 31):
            sent.append(make_event(f"cam-{i % 3}", i))
        spool.append(sent[:10])
        spool.append(sent[10:])
        got = spool.peek_batch(max_events=100)
    assert [item.event_id for item in got] == [e.event_id for e in sent]
    per_camera: dict[str, list[int]] = {}
    for item in got:
        per_camera.setdefault(item.camera_id, []).append(_decode(item.payload).sequence)
    for sequences in per_camera.values():
        assert sequences == sorted(sequences)
    assert [s.seq for s in got] == sorted(s.seq for s in got)


def test_paging_with_after_seq_and_limits(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        events = make_events("cam-a", 25)
        spool.append(events)
        first = spool.peek_batch(max_events=10)
        second = spool.peek_batch(max_events=10, after_seq=first[-1].seq)
        rest = spool.peek_batch(max_events=10, after_seq=second[-1].seq)
        assert len(first) == 10 and len(second) == 10 and len(rest) == 5
        ids = [i.event_id for i in first + second + rest]
        assert ids == [e.event_id for e in events]
        three = sum(len(i.payload) for i in first[:3])
        by_bytes = spool.peek_batch(max_events=100, max_bytes=three + len(first[3].payload) - 1)
        assert len(by_bytes) == 3
        # An event larger than max_bytes still comes out alone: nothing can wedge the queue.
        assert len(spool.peek_batch(max_events=100, max_bytes=1)) == 1
        assert spool.peek_batch(after_seq=rest[-1].seq) == []


def test_ack_deletes_only_acked_and_updates_counters(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        events = make_events("cam-a", 6, kind="face")
        spool.append(events)
        total = spool.bytes()
        assert spool.depth() == 6 and total == sum(e.ByteSize() for e in events)
        removed = spool.ack([events[1].event_id, events[3].event_id, "no-such-event"])
        assert removed == 2
        assert spool.depth() == 4
        assert spool.bytes() == total - events[1].ByteSize() - events[3].ByteSize()
        left = [i.event_id for i in spool.peek_batch()]
        assert left == [events[i].event_id for i in (0, 2, 4, 5)]
        assert spool.ack([]) == 0
        spool.ack(left)
        assert (spool.depth(), spool.bytes(), spool.peek_batch()) == (0, 0, [])
        assert spool.oldest_created() is None


def test_reappending_an_event_is_idempotent(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        events = make_events("cam-a", 5)
        first = spool.append(events)
        again = spool.append([*events[2:], make_event("cam-a", 6)])
        assert (first.stored, first.duplicates) == (5, 0)
        assert (again.stored, again.duplicates) == (1, 3)
        assert spool.depth() == 6
        assert (
            spool.bytes() == sum(e.ByteSize() for e in events) + make_event("cam-a", 6).ByteSize()
        )


def test_contents_and_counters_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    events = make_events("cam-a", 4) + make_events("cam-b", 3, kind="traffic_flow")
    with Spool(path) as spool:
        spool.append(events)
        spool.ack([events[0].event_id])
        depth, size = spool.depth(), spool.bytes()
    with Spool(path) as spool:
        assert (spool.depth(), spool.bytes()) == (depth, size)
        assert [i.event_id for i in spool.peek_batch()] == [e.event_id for e in events[1:]]
        assert spool.depth_by_camera() == {"cam-a": 3, "cam-b": 3}


def test_event_without_identity_is_refused_and_nothing_of_the_batch_is_kept(
    tmp_path: Path,
) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        spool.append(make_events("cam-a", 2))
        bad = make_event("cam-a", 3)
        bad.event_id = ""
        with pytest.raises(SpoolError, match="event_id"):
            spool.append([make_event("cam-a", 4), bad])
        assert spool.depth() == 2


def test_oversized_event_is_refused_by_name(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        huge = make_event("cam-a", 2, kind="face", embedding_bytes=2 << 20)
        with pytest.raises(SpoolError, match=f"event {huge.event_id} is .* bytes, limit"):
            spool.append([make_event("cam-a", 1), huge])
        assert spool.depth() == 0


def test_bad_limits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpoolError, match="positive"):
        Spool(tmp_path / "a.db", max_bytes=0)
    with pytest.raises(SpoolError, match="synchronous"):
        Spool(tmp_path / "b.db", synchronous="OFF")  # type: ignore[arg-type]


def test_concurrent_appenders_and_acker_stay_consistent(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    spool = Spool(path, synchronous="NORMAL")
    acked: list[str] = []

    def produce(camera: str) -> None:
        for start in range(1, 201, 20):
            spool.append(make_events(camera, 20, start=start))

    def consume() -> None:
        for _ in range(50):
            batch = spool.peek_batch(max_events=15)
            spool.ack([i.event_id for i in batch])
            acked.extend(i.event_id for i in batch)

    threads = [threading.Thread(target=produce, args=(f"cam-{n}",)) for n in range(3)]
    threads.append(threading.Thread(target=consume))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    remaining = spool.peek_batch(max_events=10_000, max_bytes=1 << 30)
    assert len(acked) + len(remaining) == 600
    assert len(set(acked) | {i.event_id for i in remaining}) == 600
    assert spool.depth() == len(remaining)
    assert spool.bytes() == sum(len(i.payload) for i in remaining)
    spool.close()


def test_append_to_a_closed_spool_is_a_spool_error(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    spool.close()
    with pytest.raises(SpoolError, match=r"spool\.db"):
        spool.append([events_pb2.Event(event_id="e1", camera_id="c")])

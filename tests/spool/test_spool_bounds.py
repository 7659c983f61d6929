"""Bounded spool: the documented drop policy, counted per camera and persisted."""

from __future__ import annotations

from pathlib import Path

from agent.spool import DROP_FULL, DROP_REJECTED, DropCount, Priority, Spool, priority_of
from proto.oko.v1 import events_pb2
from tests.support.events import make_event, make_events


def test_peek_carries_the_priority(tmp_path: Path) -> None:
    kinds = ["zone", "face", "wrong_way"]
    with Spool(tmp_path / "spool.db") as spool:
        spool.append([make_event("c", i + 1, kind) for i, kind in enumerate(kinds)])
        got = [item.priority for item in spool.peek_batch()]
    assert got == [Priority.ROUTINE, Priority.FACE, Priority.ALERT]


def test_priority_classes() -> None:
    assert priority_of(make_event("c", 1, "line_crossing")) is Priority.ROUTINE
    assert priority_of(make_event("c", 1, "traffic_flow")) is Priority.ROUTINE
    assert priority_of(make_event("c", 1, "face")) is Priority.FACE
    assert priority_of(make_event("c", 1, "wrong_way")) is Priority.ALERT
    alert = make_event("c", 1, "abandoned_object")
    assert priority_of(alert) is Priority.ALERT
    alert.abandoned_object.state = events_pb2.AbandonedObject.STATE_CLEARED
    assert priority_of(alert) is Priority.ROUTINE


def test_row_bound_drops_oldest_routine_first_and_counts_per_camera(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    alerts = make_events("cam-a", 5, kind="wrong_way")
    faces = make_events("cam-b", 5, kind="face")
    routine_a = make_events("cam-a", 10, start=100)
    routine_b = make_events("cam-b", 10, start=100)
    with Spool(path, max_events=25) as spool:
        spool.append(alerts + routine_a + faces)
        result = spool.append(routine_b)
        assert result.stored == 10 and result.dropped == 5
        kept = {i.event_id for i in spool.peek_batch(max_events=100)}
        assert spool.depth() == 25
        # The five oldest routine events (all cam-a) went; alerts and faces all stayed.
        assert not kept & {e.event_id for e in routine_a[:5]}
        assert {e.event_id for e in alerts + faces + routine_a[5:] + routine_b} == kept
        sizes = sum(e.ByteSize() for e in routine_a[:5])
        assert spool.drops() == {"cam-a": DropCount(5, sizes)}
    with Spool(path, max_events=25) as spool:
        assert spool.drops() == {"cam-a": DropCount(5, sizes)}


def test_alerts_go_last_and_oldest_first(tmp_path: Path) -> None:
    faces = make_events("cam-a", 3, kind="face")
    alerts = make_events("cam-a", 6, kind="abandoned_object", start=10)
    with Spool(tmp_path / "spool.db", max_events=4) as spool:
        result = spool.append(faces + alerts)
        kept = [i.event_id for i in spool.peek_batch()]
    assert result.dropped == 5
    assert kept == [e.event_id for e in alerts[2:]]


def test_byte_bound_holds_after_every_append(tmp_path: Path) -> None:
    budget = 40_000
    with Spool(tmp_path / "spool.db", max_bytes=budget) as spool:
        appended = 0
        dropped = 0
        for round_ in range(20):
            batch = make_events(f"cam-{round_ % 4}", 10, kind="face", start=round_ * 10 + 1)
            result = spool.append(batch)
            appended += result.stored
            dropped += result.dropped
            assert spool.bytes() <= budget
        stored_bytes = sum(len(i.payload) for i in spool.peek_batch(1000, 1 << 30))
        assert stored_bytes == spool.bytes()
        assert appended - dropped == spool.depth()
        counted = spool.drops()
    assert dropped > 0
    assert sum(d.events for d in counted.values()) == dropped


def test_acked_events_are_never_counted_as_drops(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db", max_events=10) as spool:
        events = make_events("cam-a", 10)
        spool.append(events)
        spool.ack([e.event_id for e in events])
        result = spool.append(make_events("cam-a", 10, start=11))
        assert result.dropped == 0 and spool.drops() == {}


def test_rejected_events_are_deleted_and_counted_as_drops(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    events = make_events("cam-a", 3) + make_events("cam-b", 2)
    with Spool(path) as spool:
        spool.append(events)
        removed = spool.ack(
            [events[0].event_id, events[3].event_id], rejected_ids=[events[1].event_id]
        )
        assert removed == 3 and spool.depth() == 2
        assert spool.drops_by_reason() == {
            ("cam-a", DROP_REJECTED): DropCount(1, events[1].ByteSize())
        }
        assert spool.dropped_total() == 1
        spool.ack([events[2].event_id])  # only events[4] (cam-b) is left
    with Spool(path, max_events=1) as spool:
        spool.append(make_events("cam-b", 1, start=50))
        by_reason = spool.drops_by_reason()
        assert set(by_reason) == {("cam-a", DROP_REJECTED), ("cam-b", DROP_FULL)}
        assert spool.drops()["cam-b"].events == 1
        assert spool.dropped_total() == 2


def test_batch_ids_never_repeat_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    with Spool(path) as spool:
        first = [spool.next_batch_id() for _ in range(1500)]
    # close() persists nothing about batch ids, so this is also what a crash leaves.
    with Spool(path) as spool:
        second = [spool.next_batch_id() for _ in range(10)]
    with Spool(path) as spool:
        third = [spool.next_batch_id() for _ in range(10)]
    every = first + second + third
    assert len(set(every)) == len(every)
    assert every == sorted(every) and every[0] >= 1

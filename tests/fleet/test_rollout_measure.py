"""What the quality and latency gates are fed: stored events and heartbeats, split right."""

from __future__ import annotations

import uuid

from fleet.rollouts import measure
from fleet.rollouts.records import LatencySample
from fleet.store.records import StoredEvent
from proto.oko.v1 import events_pb2

S = 1_000_000
T0 = 1_800_000_000 * S  # the update
OLD = ("nanodet-g", "1.0.0")
NEW = ("nanodet-g", "2.0.0")
TRIED = ("nanodet-g", "1.5.0-rolled-back")


def stored(cursor: int, at_s: float, model: tuple[str, str], kind: str = "enter", score=0.6):
    event = events_pb2.Event(
        event_id=str(uuid.uuid4()),
        camera_id="cam",
        track_id=cursor,
        confidence=score,
        models=[events_pb2.ModelVersion(name=model[0], version=model[1])],
    )
    if kind in ("enter", "exit"):
        event.zone.zone_id = "z"
        event.zone.kind = (
            events_pb2.ZoneEvent.KIND_ENTER if kind == "enter" else events_pb2.ZoneEvent.KIND_EXIT
        )
    elif kind == "line":
        event.line_crossing.line_id = "l"
    elif kind == "flow":
        event.track_id = -1
        event.traffic_flow.line_id = "l"
    capture = T0 + int(at_s * S)
    return StoredEvent(
        cursor, event.event_id, "dev", "cam", "s", kind, capture, capture, event.SerializeToString()
    )


def tally() -> measure.EventTally:
    return measure.EventTally("dev", *NEW, T0, T0 - 600 * S, previous=OLD)


def test_detections_are_split_by_the_model_that_made_them() -> None:
    t = tally()
    rows = [
        stored(1, -30, OLD),
        stored(2, -20, OLD, "line"),
        stored(3, -10, OLD, "exit"),  # a track leaving: not a detection
        stored(4, -5, OLD, "flow"),  # an interval aggregate: not a detection
        stored(5, 3, OLD),  # the old model still ran after the assignment (downloading)
        stored(6, 10, NEW, score=0.9),
        stored(7, 12, NEW, "exit"),
        stored(8, -700, OLD),  # before the window
    ]
    for row in rows:
        t.add(row)
    (cam,) = t.cameras(T0 - 600 * S)
    assert (cam.before, cam.after) == (2, 1)
    assert cam.after_scores == (0.8999999761581421,) and len(cam.before_scores) == 2
    assert (t.first_after_us, t.last_after_us) == (T0 + 10 * S, T0 + 10 * S)
    assert t.cursor == 8


def test_a_model_tried_in_between_cuts_the_baseline_at_its_last_event() -> None:
    t = tally()
    for row in (
        stored(1, -300, OLD),
        stored(2, -250, OLD),
        stored(3, -200, TRIED, "exit"),  # a blind model tried and rolled back: exits only
        stored(4, -100, OLD),
        stored(5, -50, OLD),
    ):
        t.add(row)
    assert t.other_until_us == T0 - 200 * S
    begin = measure.baseline_start(T0, 600, [t.other_until_us], T0 - 3600 * S)
    assert begin == T0 - 200 * S
    (cam,) = t.cameras(begin)
    assert cam.before == 2  # only the old model's own run since then


def test_baseline_start_takes_the_latest_cut_before_the_update() -> None:
    enrolled = T0 - 7200 * S
    assert measure.baseline_start(T0, 600, [], enrolled) == T0 - 600 * S
    starts = [T0 - 5000 * S, T0 - 120 * S, T0 + 30 * S]  # the last one is after the update
    assert measure.baseline_start(T0, 600, starts, enrolled) == T0 - 120 * S
    assert measure.baseline_start(T0, 600, [], T0 - 60 * S) == T0 - 60 * S


def test_latency_split_leaves_out_the_heartbeat_that_spans_the_swap() -> None:
    samples = [
        LatencySample("dev", T0 + t * S, ms)
        for t, ms in ((-30, 10.0), (-20, 11.0), (5, 12.0), (25, 30.0), (35, 31.0), (45, 29.0))
    ]
    before, after = measure.split_latency(samples, T0, T0 + 20 * S)
    assert before == (10.0, 11.0)
    assert after == (31.0, 29.0)  # 25 s mixes both models; 5 s is before the swap
    assert measure.split_latency(samples, T0, 0)[1] == ()
    assert measure.restarts_after([T0 - S, T0 + S, T0 + 2 * S], T0) == 2


def test_undecodable_payloads_are_counted_not_fatal() -> None:
    t = tally()
    t.add(StoredEvent(1, "x", "dev", "cam", "s", "zone", T0, T0, b"\xff\xff\xff"))
    assert t.undecodable == 1 and t.cameras(0) == ()


def test_the_baseline_starts_a_settle_time_after_the_latest_cut() -> None:
    cuts = [T0 - 100 * S]
    assert measure.baseline_start(T0, 600, cuts, 0, settle_s=10) == T0 - 90 * S
    assert measure.baseline_start(T0, 600, [T0 - 5 * S], 0, settle_s=10) == T0  # no window
    t = tally()
    for i, at in enumerate((5.0, 12.0, 30.0)):
        t.add(stored(i + 1, at, NEW))
    (cam,) = t.cameras(0, after_us=T0 + 10 * S)
    assert cam.after == 2  # the detection in the first 10 s after the swap is left out

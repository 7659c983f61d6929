"""ByteTrack behaviour on synthetic scenes whose ground truth is known exactly."""

import numpy as np
import pytest

from agent.config.tracking import TrackerConfig
from agent.detections import Detections
from agent.track.bytetrack import ByteTrack

PERSON, CAR = 0, 2


def dets(rows: list[tuple[float, float, float, float, float, int]]) -> Detections:
    """rows of (x1, y1, x2, y2, score, class)."""
    if not rows:
        return Detections.empty()
    a = np.array(rows, np.float32)
    return Detections(a[:, :4], a[:, 4], a[:, 5].astype(np.int64))


def walker(
    x0: float, y0: float, vx: float, vy: float, t: float, *, w: float = 40, h: float = 100
) -> tuple[float, float, float, float]:
    x, y = x0 + vx * t, y0 + vy * t
    return (x, y, x + w, y + h)


def run(tracker: ByteTrack, frames: list[list[tuple]], fps: float = 5.0) -> list[Detections]:
    return [tracker.update(dets(f), i / fps) for i, f in enumerate(frames)]


def test_tracks_are_confirmed_after_min_hits_and_ids_are_stable() -> None:
    tracker = ByteTrack(TrackerConfig(min_hits=3))
    frames = [
        [
            (*walker(0, 100, 50, 0, i / 5), 0.9, PERSON),
            (*walker(400, 300, -40, 5, i / 5), 0.8, PERSON),
        ]
        for i in range(20)
    ]
    out = run(tracker, frames)
    assert len(out[0]) == 0 and len(out[1]) == 0  # unconfirmed: never reported
    assert len(out[2]) == 2
    ids = {tuple(sorted(o.tracker_id.tolist())) for o in out[2:]}
    assert ids == {(1, 2)}
    # The same id follows the same walker: the left one (moving right) keeps its id.
    first = {int(o.tracker_id[np.argmin(o.xyxy[:, 1])]) for o in out[2:]}
    assert len(first) == 1


def test_one_frame_false_positives_never_get_ids() -> None:
    tracker = ByteTrack(TrackerConfig(min_hits=2))
    rng = np.random.default_rng(1)
    frames = []
    for _ in range(30):
        x, y = rng.uniform(0, 700, 2)  # flicker somewhere new every frame
        frames.append([(x, y, x + 30, y + 60, 0.95, PERSON)])
    out = run(tracker, frames)
    assert sum(len(o) for o in out) == 0
    assert tracker.confirmed_count == 0


def test_tentative_track_that_misses_a_frame_starts_over() -> None:
    tracker = ByteTrack(TrackerConfig(min_hits=3))
    box = (100, 100, 140, 200, 0.9, PERSON)
    out = run(tracker, [[box], [box], [], [box], [box], [box]])
    assert [len(o) for o in out] == [0, 0, 0, 0, 0, 1]


def test_occlusion_within_buffer_keeps_id_beyond_buffer_gets_new_id() -> None:
    cfg = TrackerConfig(min_hits=2, track_buffer_seconds=2.0)
    tracker = ByteTrack(cfg)
    ids = []
    t = 0.0
    # Moving at 30 px/s; hidden for 1.4 s, then reappears where the motion predicts.
    for i in range(40):
        t = i * 0.2
        visible = not (10 <= i < 17)
        d = dets([(*walker(0, 100, 30, 0, t), 0.9, PERSON)] if visible else [])
        o = tracker.update(d, t)
        ids.extend(o.tracker_id.tolist())
    assert set(ids) == {1}
    # Gone for 3 s > buffer: the object coming back is a new track.
    tracker.update(Detections.empty(), t + 3.0)
    for k in range(1, 4):
        o = tracker.update(
            dets([(*walker(0, 100, 30, 0, t + 3 + k * 0.2), 0.9, PERSON)]), t + 3.0 + k * 0.2
        )
    assert o.tracker_id.tolist() == [2]


def test_low_score_detections_extend_tracks_but_never_start_them() -> None:
    cfg = TrackerConfig(min_hits=2, high_threshold=0.5, low_threshold=0.1)
    tracker = ByteTrack(cfg)
    frames = [
        [
            (*walker(0, 100, 20, 0, i / 5), 0.9 if i < 5 else 0.2, PERSON),
            (500, 100, 540, 200, 0.3, PERSON),
        ]
        for i in range(15)
    ]
    out = run(tracker, frames)
    # The occluded walker (score 0.2 from frame 5 on) keeps id 1; the weak static box
    # (score 0.3 throughout) never becomes a track.
    for o in out[1:]:
        assert o.tracker_id.tolist() == [1]
    assert out[-1].confidence[0] == pytest.approx(0.2)


def test_classes_do_not_steal_each_others_tracks() -> None:
    tracker = ByteTrack(TrackerConfig(min_hits=2))
    # A person walks right past a car; boxes overlap heavily mid-way.
    frames = [
        [
            (*walker(100, 100, 40, 0, i / 5, w=60, h=120), 0.9, PERSON),
            (150, 110, 270, 210, 0.9, CAR),
        ]
        for i in range(20)
    ]
    out = run(tracker, frames)
    for o in out[1:]:
        by_class = dict(zip(o.class_id.tolist(), o.tracker_id.tolist(), strict=True))
        assert by_class == {PERSON: by_class[PERSON], CAR: by_class[CAR]}
    person_ids = {int(o.tracker_id[o.class_id == PERSON][0]) for o in out[1:]}
    car_ids = {int(o.tracker_id[o.class_id == CAR][0]) for o in out[1:]}
    assert len(person_ids) == 1 and len(car_ids) == 1 and person_ids != car_ids


def test_crossing_walkers_keep_their_ids() -> None:
    tracker = ByteTrack(TrackerConfig(min_hits=2))
    frames = [
        [
            (*walker(0, 100, 60, 0, i / 5), 0.9, PERSON),
            (*walker(600, 110, -60, 0, i / 5), 0.9, PERSON),
        ]
        for i in range(50)
    ]
    out = run(tracker, frames)
    for o in out[1:]:
        left_to_right = int(o.tracker_id[np.argmin(o.xyxy[:, 1])])  # y0=100 walker
        assert left_to_right == int(out[1].tracker_id[np.argmin(out[1].xyxy[:, 1])])
    assert {i for o in out for i in o.tracker_id.tolist()} == {1, 2}


def test_variable_frame_interval_is_bridged() -> None:
    tracker = ByteTrack(TrackerConfig(min_hits=2))
    times = [0, 0.2, 0.4, 0.6, 1.6, 1.8, 3.0, 3.1]  # motion-gated gaps
    ids = []
    for t in times:
        o = tracker.update(dets([(*walker(0, 100, 80, 0, t), 0.9, PERSON)]), t)
        ids.extend(o.tracker_id.tolist())
    assert set(ids) == {1}


def test_returns_input_rows_and_does_not_mutate_input() -> None:
    tracker = ByteTrack(TrackerConfig(min_hits=1))
    d = Detections(
        np.array([[0, 0, 10, 10], [50, 50, 60, 70]], np.float32),
        np.array([0.9, 0.05], np.float32),
        np.array([0, 0]),
        keypoints=np.ones((2, 5, 2), np.float32),
    )
    before = d.tracker_id.copy(), d.xyxy.copy()
    o = tracker.update(d, 0.0)
    np.testing.assert_array_equal(d.tracker_id, before[0])
    np.testing.assert_array_equal(d.xyxy, before[1])
    assert len(o) == 1 and o.tracker_id.tolist() == [1]
    np.testing.assert_array_equal(o.xyxy, d.xyxy[:1])
    assert o.keypoints is not None and o.keypoints.shape == (1, 5, 2)


def test_timestamp_going_backwards_is_rejected_and_reset_recovers() -> None:
    tracker = ByteTrack()
    tracker.update(Detections.empty(), 10.0)
    with pytest.raises(ValueError, match="backwards"):
        tracker.update(Detections.empty(), 9.0)
    tracker.reset()
    tracker.update(Detections.empty(), 9.0)


def test_config_rejects_inverted_thresholds_naming_fields() -> None:
    from agent.config.base import parse_document
    from agent.errors import ConfigError

    with pytest.raises(ConfigError, match="low_threshold"):
        parse_document(TrackerConfig, {"low_threshold": 0.8, "high_threshold": 0.5})
    with pytest.raises(ConfigError, match="min_hits"):
        parse_document(TrackerConfig, {"min_hits": 0})


def test_buffered_iou_lets_fast_new_objects_confirm_at_low_frame_rate() -> None:
    # A car crossing the view: 80 px wide, moving 60 px per frame at 5 fps (IoU of
    # consecutive boxes ~0.14). A new track has no velocity yet, so plain IoU never
    # confirms it; buffered IoU does, and keeps one id.
    frames = [[(*walker(0, 200, 300, 0, i / 5, w=80, h=50), 0.9, CAR)] for i in range(12)]
    plain = run(ByteTrack(TrackerConfig(match_buffer=0.0)), frames)
    assert sum(len(o) for o in plain) == 0
    buffered = run(ByteTrack(TrackerConfig(match_buffer=0.3)), frames)
    assert {i for o in buffered for i in o.tracker_id.tolist()} == {1}
    assert sum(len(o) for o in buffered) == 10


def test_live_boxes_cover_tentative_and_lost_tracks_for_the_motion_gate() -> None:
    tracker = ByteTrack(TrackerConfig(min_hits=3, track_buffer_seconds=2.0))
    box = (100, 100, 140, 200, 0.9, PERSON)
    tracker.update(dets([box]), 0.0)
    np.testing.assert_allclose(tracker.live_boxes(), [box[:4]])  # tentative: still watched
    for k in range(1, 4):
        tracker.update(dets([box]), k * 0.2)
    tracker.update(Detections.empty(), 1.0)  # lost, within the buffer
    assert tracker.live_boxes().shape == (1, 4)
    tracker.update(Detections.empty(), 4.0)  # beyond the buffer
    assert tracker.live_boxes().shape == (0, 4)


def test_non_finite_input_is_rejected_without_touching_state() -> None:
    tracker = ByteTrack(TrackerConfig(min_hits=1))
    tracker.update(dets([(0, 0, 10, 10, 0.9, PERSON)]), 0.0)
    with pytest.raises(ValueError, match=r"rows \[1\]"):
        tracker.update(
            dets([(0, 0, 10, 10, 0.9, PERSON), (float("nan"), 0, 10, 10, 0.9, PERSON)]), 0.2
        )
    out = tracker.update(dets([(1, 0, 11, 10, 0.9, PERSON)]), 0.2)
    assert out.tracker_id.tolist() == [1]
    assert np.isfinite(tracker.live_boxes()).all()


def test_birth_boxes_are_the_first_detection_of_confirmed_tracks() -> None:
    tracker = ByteTrack(TrackerConfig(min_hits=3))
    for k in range(4):
        out = tracker.update(dets([(*walker(0, 100, 50, 0, k / 5), 0.9, PERSON)]), k / 5)
    assert out.tracker_id.tolist() == [1]
    births = tracker.birth_boxes(np.array([1, 99, -1]))
    np.testing.assert_allclose(births[0], walker(0, 100, 50, 0, 0.0))
    assert np.isnan(births[1:]).all()
    assert ByteTrack().birth_boxes([1]).shape == (1, 4)


COCO = ("person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck")
BUS, TRUCK = 5, 7


def test_label_flips_within_the_vehicle_family_keep_one_track() -> None:
    """NanoDet calls one van truck, bus, truck... frame by frame (docs/traffic.md)."""
    labels = [TRUCK, BUS, TRUCK, BUS, CAR, TRUCK]
    frames = [[(*walker(100, 200, 60, 0, i / 5, w=90, h=70), 0.6, c)] for i, c in enumerate(labels)]
    family = run(ByteTrack(TrackerConfig(min_hits=2), labels=COCO), frames)
    assert {int(t) for d in family for t in d.tracker_id} == {1}
    assert sum(len(d) for d in family) == len(labels) - 1  # all but the tentative first frame
    strict = run(ByteTrack(TrackerConfig(min_hits=2)), frames)  # no labels: every id its own
    assert sum(len(d) for d in strict) < len(labels) - 1


def test_vehicle_tracks_never_take_person_boxes() -> None:
    frames = [[(*walker(100, 200, 10, 0, i / 5, w=90, h=70), 0.6, TRUCK)] for i in range(4)]
    frames += [[(150, 205, 180, 270, 0.8, PERSON)] for _ in range(4)]
    out = run(ByteTrack(TrackerConfig(min_hits=2), labels=COCO), frames)
    ids = {(int(t), int(c)) for d in out for t, c in zip(d.tracker_id, d.class_id, strict=True)}
    assert {c for t, c in ids if t == 1} == {TRUCK}


def test_second_label_on_a_taken_vehicle_starts_no_track() -> None:
    """Per-label NMS leaves a truck and a bus box on one van: one track, not two."""
    frames = []
    for i in range(5):
        box = walker(100, 200, 50, 0, i / 5, w=90, h=70)
        frames.append([(*box, 0.6, TRUCK), (box[0] + 2, box[1], box[2], box[3], 0.5, BUS)])
    out = run(ByteTrack(TrackerConfig(min_hits=2), labels=COCO), frames)
    assert {int(t) for d in out for t in d.tracker_id} == {1}
    # Two different vehicles side by side still get two tracks.
    frames = [[(100, 200, 190, 270, 0.6, TRUCK), (200, 200, 290, 270, 0.5, BUS)]] * 3
    out = run(ByteTrack(TrackerConfig(min_hits=2), labels=COCO), frames)
    assert {int(t) for d in out for t in d.tracker_id} == {1, 2}

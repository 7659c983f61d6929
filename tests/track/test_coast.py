"""`ByteTrack.coast`: a frame the detector skipped reports the tracks at their predictions.

Synthetic walkers whose true positions are known show that the predicted boxes continue the
motion, ids survive a detect/skip/detect sequence, and a skipped frame counts as no miss.
"""

import numpy as np
import pytest

from agent.config.tracking import TrackerConfig
from agent.detections import Detections, box_iou
from agent.track.bytetrack import ByteTrack
from tests.track.test_bytetrack import PERSON, dets, walker

FPS = 5.0


def _truth(t: float) -> list[tuple]:
    """Two people walking at constant velocity (px/s), crossing paths diagonally."""
    return [
        (*walker(0, 100, 60, 0, t), 0.9, PERSON),
        (*walker(500, 300, -45, -10, t), 0.7, PERSON),
    ]


def test_predicted_boxes_continue_constant_velocity_motion() -> None:
    tracker = ByteTrack(TrackerConfig(min_hits=3))
    for i in range(10):  # long enough for the filter to learn both velocities
        tracker.update(dets(_truth(i / FPS)), i / FPS)
    t = 10 / FPS
    out = tracker.coast(t)
    assert sorted(out.tracker_id.tolist()) == [1, 2]
    truth = dets(_truth(t))
    # Each predicted box sits where its walker really is now, not where it was last seen.
    iou = box_iou(out.xyxy, truth.xyxy)
    assert (iou.max(axis=1) > 0.9).all(), iou
    last = dets(_truth(9 / FPS))
    centre = (out.xyxy[:, :2] + out.xyxy[:, 2:]) / 2
    true_centre = (truth.xyxy[:, :2] + truth.xyxy[:, 2:]) / 2
    order = iou.argmax(axis=1)
    assert np.abs(centre - true_centre[order]).max() < 3.0  # px; a step is 12 px
    assert (box_iou(out.xyxy, last.xyxy).max(axis=1) < iou.max(axis=1)).all()
    # Class and the confidence of the last match come along; no keypoints are invented.
    assert out.class_id.tolist() == [PERSON, PERSON]
    by_id = dict(zip(out.tracker_id.tolist(), out.confidence.tolist(), strict=True))
    assert by_id == pytest.approx({1: 0.9, 2: 0.7})
    assert out.keypoints is None


def test_ids_are_kept_across_detect_skip_detect() -> None:
    """Every other frame skipped: the same two ids on every frame, skipped ones included,
    and the boxes of skipped frames on the walkers' true paths."""
    tracker = ByteTrack(TrackerConfig(min_hits=3))
    seen: list[list[int]] = []
    for i in range(40):
        t = i / FPS
        if i >= 4 and i % 2:
            out = tracker.coast(t)
            iou = box_iou(out.xyxy, dets(_truth(t)).xyxy)
            assert (iou.max(axis=1) > 0.8).all(), (i, iou)
        else:
            out = tracker.update(dets(_truth(t)), t)
        seen.append(sorted(out.tracker_id.tolist()))
    assert seen[2:] == [[1, 2]] * 38


def test_a_skipped_frame_is_not_a_miss() -> None:
    """Unlike an update with nothing detected: the track stays matched (reported next
    frame even on a low-score detection, ByteTrack's second stage), and a tentative
    track is not dropped."""
    cfg = TrackerConfig(min_hits=3)
    coasted, missed = ByteTrack(cfg), ByteTrack(cfg)
    for i in range(5):
        for tr in (coasted, missed):
            tr.update(dets([(*walker(0, 100, 60, 0, i / FPS), 0.9, PERSON)]), i / FPS)
    assert len(coasted.coast(5 / FPS)) == 1
    assert len(missed.update(Detections.empty(), 5 / FPS)) == 0
    weak = dets([(*walker(0, 100, 60, 0, 6 / FPS), 0.2, PERSON)])  # below high_threshold
    assert weak.confidence[0] < cfg.high_threshold
    assert coasted.update(weak, 6 / FPS).tracker_id.tolist() == [1]
    assert len(missed.update(weak, 6 / FPS)) == 0  # stage 2 is for tracks matched last frame
    # A tentative track (1 hit) survives a skipped frame and is confirmed on schedule.
    fresh = ByteTrack(cfg)
    fresh.update(dets([(*walker(0, 100, 60, 0, 0), 0.9, PERSON)]), 0.0)
    fresh.update(dets([(*walker(0, 100, 60, 0, 0.2), 0.9, PERSON)]), 0.2)
    assert len(fresh.coast(0.4)) == 0 and len(fresh.live_boxes()) == 1  # not reported, kept
    assert len(fresh.update(dets([(*walker(0, 100, 60, 0, 0.6), 0.9, PERSON)]), 0.6)) == 1


def test_lost_tracks_are_not_reported_and_still_expire() -> None:
    cfg = TrackerConfig(min_hits=1, track_buffer_seconds=1.0)
    tracker = ByteTrack(cfg)
    tracker.update(dets([(*walker(0, 100, 0, 0, 0), 0.9, PERSON)]), 0.0)
    tracker.update(Detections.empty(), 0.2)  # missed: lost, held within the buffer
    assert len(tracker.coast(0.4)) == 0  # a lost track is not revived by a prediction
    assert tracker.confirmed_count == 1
    tracker.update(Detections.empty(), 1.4)  # 1.4 s since last seen > 1 s buffer
    assert tracker.confirmed_count == 0


def test_coast_checks_time_like_update() -> None:
    tracker = ByteTrack()
    tracker.update(dets([(*walker(0, 100, 0, 0, 0), 0.9, PERSON)]), 1.0)
    with pytest.raises(ValueError, match="backwards"):
        tracker.coast(0.5)
    with pytest.raises(ValueError, match="non-finite"):
        tracker.coast(float("nan"))
    assert len(tracker.coast(1.0)) == len(tracker.coast(1.2))  # same state, time moved on


def test_predicted_boxes_are_clipped_to_the_frame_and_gone_ones_not_reported() -> None:
    """A walker leaving at the right edge: its prediction is clipped like a detection; once
    predicted wholly outside it is not reported, but kept for the next pass to decide."""
    tracker = ByteTrack(TrackerConfig(min_hits=1))
    for i in range(6):
        t = i / FPS
        tracker.update(dets([(*walker(560, 100, 200, 0, t), 0.9, PERSON)]), t)
    near = tracker.coast(6 / FPS, bounds=(480, 640))  # true box x 800-840: outside
    assert len(near) == 0 and len(tracker.live_boxes()) == 1
    edge = ByteTrack(TrackerConfig(min_hits=1))
    for i in range(6):
        t = i / FPS
        edge.update(dets([(*walker(300, 100, 200, 0, t), 0.9, PERSON)]), t)
    out = edge.coast(6 / FPS, bounds=(480, 640))  # walker at x 540-580: inside
    assert len(out) == 1 and 0 <= out.xyxy[0, 0] < out.xyxy[0, 2] <= 640
    late = edge.coast(8 / FPS, bounds=(480, 640))  # walker at x 620-660: cut at the edge
    assert len(late) == 1 and float(late.xyxy[0, 2]) == 640.0
    assert 610 < float(late.xyxy[0, 0]) < 630

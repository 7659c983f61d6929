"""Detector windows: planning square crops and merging what the detector found in them."""

from __future__ import annotations

import numpy as np
import pytest

from agent.detections import Detections
from agent.motion.windows import cover_windows, crop, merge_window_detections, plan_windows

HW = (1080, 1920)


def _contains(windows: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """For each box, whether some window holds it entirely."""
    w, b = windows[None, :, :], boxes[:, None, :]
    # asarray: numpy types any() on an array as "array or scalar".
    return np.asarray(
        (
            (b[..., 0] >= w[..., 0])
            & (b[..., 1] >= w[..., 1])
            & (b[..., 2] <= w[..., 2])
            & (b[..., 3] <= w[..., 3])
        ).any(axis=1)
    )


def test_small_box_gets_one_native_window_around_it() -> None:
    windows = plan_windows(np.array([[900, 500, 960, 620]]), HW, 416)
    assert windows.tolist() == [[722, 352, 1138, 768]]


def test_window_is_shifted_inside_the_frame_at_corners() -> None:
    windows = plan_windows(np.array([[0, 0, 30, 40], [1900, 1050, 1920, 1080]]), HW, 416)
    assert windows.tolist() == [[0, 0, 416, 416], [1504, 664, 1920, 1080]]


def test_nearby_boxes_share_a_window_far_ones_do_not() -> None:
    near = plan_windows(np.array([[100, 100, 150, 200], [300, 250, 360, 400]]), HW, 416)
    far = plan_windows(np.array([[100, 100, 150, 200], [1500, 700, 1560, 850]]), HW, 416)
    assert len(near) == 1 and len(far) == 2


def test_large_region_gets_a_larger_window_with_context() -> None:
    windows = plan_windows(np.array([[200, 100, 900, 500]]), HW, 416)
    ((x1, y1, x2, y2),) = windows.tolist()
    assert x2 - x1 == y2 - y1 == 770  # 700 px plus 10 % context, still square
    assert _contains(windows, np.array([[200, 100, 900, 500]])).all()


def test_frame_smaller_than_the_model_input_is_one_clipped_window() -> None:
    assert plan_windows(np.array([[10, 10, 50, 50]]), (240, 320), 416).tolist() == [
        [0, 0, 320, 240]
    ]


def test_every_box_is_covered_and_windows_stay_in_frame() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        xy = rng.uniform(0, [1800, 1000], (12, 2))
        wh = rng.uniform(10, 500, (12, 2))
        boxes = np.clip(np.concatenate([xy, xy + wh], 1), 0, [1920, 1080, 1920, 1080])
        windows = plan_windows(boxes, HW, 416)
        assert _contains(windows, boxes).all()
        assert (windows[:, :2] >= 0).all() and (windows[:, 2] <= 1920).all()
        assert (windows[:, 3] <= 1080).all() and len(windows) <= len(boxes)
        sides = windows[:, 2:] - windows[:, :2]
        assert (sides >= 416).all()


def test_no_boxes_no_windows() -> None:
    assert plan_windows(np.empty((0, 4)), HW, 416).shape == (0, 4)


def test_crops_are_views_of_the_right_size() -> None:
    image = np.zeros((1080, 1920, 3), np.uint8)
    windows = np.array([[0, 0, 416, 416], [100, 50, 900, 850]])
    crops = crop(image, windows)
    assert [c.shape for c in crops] == [(416, 416, 3), (800, 800, 3)]
    assert all(np.shares_memory(c, image) for c in crops)


def _dets(xyxy: list[list[float]], conf: list[float], cls: list[int]) -> Detections:
    return Detections(np.array(xyxy, np.float32), np.array(conf, np.float32), np.array(cls))


def test_merge_moves_boxes_to_frame_pixels_and_removes_doubles() -> None:
    windows = np.array([[0, 0, 416, 416], [300, 0, 716, 416]])
    # One person in the overlap, seen by both windows; one car only in the second.
    first = _dets([[320, 100, 380, 260]], [0.9], [0])
    second = _dets([[22, 102, 82, 258], [300, 300, 400, 380]], [0.8, 0.7], [0, 2])
    merged = merge_window_detections(windows, [first, second], HW)
    order = np.argsort(merged.class_id)
    assert merged.class_id[order].tolist() == [0, 2]
    assert merged.xyxy[order].tolist() == [[320, 100, 380, 260], [600, 300, 700, 380]]
    assert merged.confidence[order].tolist() == pytest.approx([0.9, 0.7])


def test_merge_prefers_whole_box_over_fragment_cut_by_a_window_edge() -> None:
    windows = np.array([[0, 0, 416, 416], [200, 0, 616, 416]])
    # The first window cuts the person at its right edge (x=416); the second sees it whole.
    fragment = _dets([[380, 100, 416, 260]], [0.95], [0])
    whole = _dets([[180, 100, 260, 262]], [0.6], [0])
    merged = merge_window_detections(windows, [fragment, whole], HW)
    assert merged.xyxy.tolist() == [[380, 100, 460, 262]]
    assert merged.confidence.tolist() == pytest.approx([0.6])


def test_merge_keeps_fragment_at_the_frame_edge_and_other_classes() -> None:
    windows = np.array([[1504, 0, 1920, 416]])
    at_edge = _dets([[380, 10, 416, 90], [380, 10, 416, 90]], [0.9, 0.8], [0, 26])
    merged = merge_window_detections(windows, [at_edge], HW)
    assert sorted(merged.class_id.tolist()) == [0, 26]


def test_merge_offsets_keypoints_and_rejects_mismatched_lengths() -> None:
    dets = Detections(
        np.array([[10, 10, 50, 50]], np.float32),
        np.array([0.9], np.float32),
        np.array([1]),
        keypoints=np.array([[[20, 30], [40, 45]]], np.float32),
    )
    merged = merge_window_detections(np.array([[100, 200, 516, 616]]), [dets], HW)
    assert merged.keypoints is not None
    assert merged.keypoints.tolist() == [[[120, 230], [140, 245]]]
    with pytest.raises(ValueError, match="2 windows but 1 detection sets"):
        merge_window_detections(np.zeros((2, 4)), [dets], HW)
    assert len(merge_window_detections(np.zeros((0, 4)), [], HW)) == 0


def test_cover_windows_meets_the_call_budget_with_larger_windows() -> None:
    # Five walkers spread over an HD frame: five native windows, or three larger ones.
    xs = np.array([50, 450, 850, 1250, 1650], np.float32)
    boxes = np.stack([xs, xs * 0 + 500, xs + 60, xs * 0 + 680], axis=1)
    assert len(plan_windows(boxes, HW, 416)) == 5
    windows = cover_windows(boxes, HW, 416, budget=3, max_area=0.7)
    assert windows is not None and len(windows) <= 3
    assert _contains(windows, boxes).all()
    assert (windows[:, 2:] <= [1920, 1080]).all() and (windows >= 0).all()
    # One call for all of them would need a window over most of the frame: give up.
    assert cover_windows(boxes, HW, 416, budget=1, max_area=0.7) is None

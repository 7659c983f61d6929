"""The one detection type: shapes checked with the shape in the message, selection, merge."""

from typing import Any

import numpy as np
import pytest

from agent.detections import NO_TRACK, Detections, box_iou


def _dets(n: int) -> Detections:
    xyxy = np.array([[i * 10, 0, i * 10 + 5, 20] for i in range(n)], np.float32)
    return Detections(xyxy, np.linspace(0.5, 0.9, n, dtype=np.float32), np.arange(n))


def test_shapes_are_normalised_and_tracker_defaults_to_no_track() -> None:
    d = _dets(3)
    assert d.xyxy.dtype == np.float32 and d.class_id.dtype == np.int64
    assert d.tracker_id.tolist() == [NO_TRACK] * 3
    assert len(Detections.empty()) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"xyxy": np.zeros((2, 3))}, r"xyxy must have shape \(n, 4\), got \(2, 3\)"),
        ({"confidence": np.zeros(3)}, r"confidence must have shape \(2,\).*got \(3,\)"),
        ({"class_id": np.zeros(1)}, r"class_id must have shape \(2,\).*got \(1,\)"),
        ({"keypoints": np.zeros((2, 5))}, r"keypoints must have shape \(2, k, 2\), got \(2, 5\)"),
    ],
)
def test_bad_shapes_name_the_field_and_shape(kwargs: dict, message: str) -> None:
    args: dict[str, Any] = {
        "xyxy": np.zeros((2, 4)),
        "confidence": np.zeros(2),
        "class_id": np.zeros(2),
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Detections(**args)


def test_indexing_returns_detections_and_never_shares_shape_bugs() -> None:
    d = _dets(4)
    one = d[2]
    assert isinstance(one, Detections) and len(one) == 1
    assert one.xyxy[0].tolist() == [20, 0, 25, 20]
    picked = d[d.confidence > 0.7]
    assert len(picked) == 2
    assert [len(x) for x in d] == [1, 1, 1, 1]


def test_merge_and_geometry() -> None:
    merged = Detections.merge([_dets(2), Detections.empty(), _dets(3)])
    assert len(merged) == 5
    assert merged.bottom_center[0].tolist() == [2.5, 20.0]
    assert merged.area[0] == pytest.approx(100.0)


def test_box_iou_matches_hand_computation() -> None:
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[5, 5, 15, 15], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    iou = box_iou(a, b)
    assert iou.shape == (1, 3)
    assert iou[0].tolist() == pytest.approx([25 / 175, 0.0, 1.0])

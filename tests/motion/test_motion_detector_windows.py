"""The real detector on gate windows: boxes come back in frame pixels, once per object."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from agent.detect.object_detector import ObjectDetector
from agent.detections import box_iou
from agent.inference.backend import load_model
from agent.motion.windows import merge_window_detections, plan_windows
from tests.support.media import VTEST, vtest_labels

LABELS = vtest_labels()

FRAMES = (150, 300, 450, 600)


@pytest.fixture(scope="module")
def detector() -> ObjectDetector:
    return ObjectDetector(load_model("nanodet-m"))


def _frame(index: int) -> np.ndarray:
    # Read sequentially, as the labels were made: seeking in this AVI is not frame-exact.
    cap = cv2.VideoCapture(str(VTEST))
    for _ in range(index + 1):
        ok, frame = cap.read()
        assert ok
    cap.release()
    return frame


def _found(people: np.ndarray, dets_xyxy: np.ndarray) -> int:
    return int((box_iou(people, dets_xyxy).max(axis=1) >= 0.5).sum()) if len(dets_xyxy) else 0


def test_windows_find_labelled_people_once_each(detector: ObjectDetector) -> None:
    found_windows = found_full = total = 0
    for index in FRAMES:
        frame = _frame(index)
        people = np.array(
            [o["box"] for o in LABELS[str(index)] if o["label"] == "person" and not o["difficult"]],
            np.float32,
        )
        windows = plan_windows(people, frame.shape[:2], 416)
        crops = [frame[y1:y2, x1:x2] for x1, y1, x2, y2 in windows.tolist()]
        merged = merge_window_detections(windows, detector.detect(crops), frame.shape[:2])
        full = detector.detect([frame])[0]
        persons = merged.xyxy[merged.class_id == 0]
        total += len(people)
        found_windows += _found(people, persons)
        found_full += _found(people, full.xyxy[full.class_id == 0])
        # No object twice: overlapping windows were de-duplicated.
        iou = box_iou(persons, persons)
        np.fill_diagonal(iou, 0)
        assert (iou < 0.5).all(), index
        # Everything lies in the frame and inside the windows it came from.
        assert (merged.xyxy >= 0).all() and (merged.xyxy[:, 2] <= frame.shape[1]).all()
    assert total >= 15
    # Native-scale windows see people as well as the squeezed full frame (one either way).
    assert found_windows >= found_full - 1
    assert found_windows / total >= 0.85

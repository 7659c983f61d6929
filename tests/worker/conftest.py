"""Fixtures for shared-worker and camera-loop tests: the detector, real frames, RTSP."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from agent.detect.object_detector import ObjectDetector
from agent.inference.backend import load_model
from tests.support.media import VTEST


@pytest.fixture(scope="session")
def detector() -> ObjectDetector:
    return ObjectDetector(load_model("nanodet-m"))


@pytest.fixture(scope="session")
def vtest_crops() -> list[np.ndarray]:
    """416x416 crops of real frames (where people walk), as the motion gate would cut them."""
    cap = cv2.VideoCapture(str(VTEST))
    crops = []
    for index in range(0, 400, 20):
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        assert ok
        crops.append(np.ascontiguousarray(frame[100:516, 150:566]))
    cap.release()
    return crops

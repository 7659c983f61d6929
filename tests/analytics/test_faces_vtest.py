"""FaceAnalyzer on real CCTV footage (vtest.avi): within budget, no faces from tiny heads.

The walkers' faces in vtest.avi are ~8 px wide, far below what identifies anyone. With the
default ``min_face_px`` the analyzer must report nothing; with the size gate lowered to its
floor the same frames do reach the face detector, so the quiet result is the gate's doing.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.analytics.faces import FaceAnalyzer
from agent.config.tracking import TrackerConfig
from agent.detections import Detections
from agent.track.bytetrack import ByteTrack
from tests.analytics.faces_support import analyzer, object_detector

VIDEO = Path(__file__).resolve().parents[1] / "data" / "vtest.avi"
FRAMES = 120  # the first 12 s, every frame (10 fps)


@pytest.fixture(scope="module")
def tracked() -> list[tuple[np.ndarray, Detections, float]]:
    """(frame, confirmed tracks, time) per frame: real NanoDet + ByteTrack."""
    detector = object_detector()
    tracker = ByteTrack(TrackerConfig())
    cap = cv2.VideoCapture(str(VIDEO))
    out = []
    try:
        for i in range(FRAMES):
            ok, frame = cap.read()
            assert ok, f"vtest.avi ended at frame {i}"
            t = i / 10.0
            (found,) = detector.detect([frame])
            out.append((frame, tracker.update(found, t), t))
    finally:
        cap.release()
    assert sum(len(tr) for _, tr, _ in out) > FRAMES, "expected people on the footage"
    return out


def _run(
    fa: FaceAnalyzer, tracked: list[tuple[np.ndarray, Detections, float]]
) -> tuple[int, list[int]]:
    events, per_frame = 0, []
    for frame, tracks, t in tracked:
        before = fa.crops_examined
        events += len(fa.update(frame, tracks, t))
        per_frame.append(fa.crops_examined - before)
    events += len(fa.flush(tracked[-1][2]))
    return events, per_frame


def test_default_gate_yields_no_faces_for_tiny_cctv_heads(
    tracked: list[tuple[np.ndarray, Detections, float]],
) -> None:
    events, per_frame = _run(analyzer(), tracked)
    assert events == 0
    assert max(per_frame) <= 4


def test_head_crops_stay_within_budget_when_the_size_gate_is_lowered(
    tracked: list[tuple[np.ndarray, Detections, float]],
) -> None:
    fa = analyzer(min_face_px=8, max_faces_per_frame=2)
    _, per_frame = _run(fa, tracked)
    assert max(per_frame) <= 2
    assert sum(per_frame) > 0, "lowered gate: head crops do reach the face detector"

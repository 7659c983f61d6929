"""Shared scene builders for analytics tests: exact synthetic tracks, ground truth known."""

from __future__ import annotations

import numpy as np

from agent.detections import Detections

LABELS = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "bus",
    "truck",
    "backpack",
    "handbag",
    "suitcase",
)


def frame(*rows: tuple[int, str, tuple[float, float, float, float]]) -> Detections:
    """Detections from (track id, label, box) rows; score 0.9."""
    if not rows:
        return Detections.empty()
    return Detections(
        np.array([r[2] for r in rows], np.float32),
        np.full(len(rows), 0.9, np.float32),
        np.array([LABELS.index(r[1]) for r in rows], np.int64),
        np.array([r[0] for r in rows], np.int64),
    )


def foot_box(
    x: float, y: float, w: float = 40, h: float = 100
) -> tuple[float, float, float, float]:
    """Box whose bottom-centre is (x, y)."""
    return (x - w / 2, y - h, x + w / 2, y)

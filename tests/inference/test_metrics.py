"""Matching arithmetic behind every accuracy figure: checked against hand-counted cases."""

import numpy as np

from agent.detect.scoring import MatchCounts, agreement, match_frame, tolerant_agreement
from agent.detections import Detections

GT = np.array([[0, 0, 10, 20], [50, 0, 60, 20], [100, 0, 104, 6]], np.float32)
DIFFICULT = np.array([False, False, True])


def test_match_frame_counts_tp_fp_fn_and_ignores_difficult() -> None:
    pred = np.array([[1, 1, 10, 20], [0, 0, 10, 19], [100, 0, 104, 6], [200, 0, 210, 20]])
    counts = match_frame(pred, np.array([0.9, 0.8, 0.7, 0.6]), GT, DIFFICULT)
    # second box duplicates the first -> FP; the difficult one is found -> ignored; GT 2 missed
    assert counts == MatchCounts(true_positives=1, false_positives=2, false_negatives=1, ignored=1)
    assert counts.precision == 1 / 3 and counts.recall == 0.5


def test_missing_difficult_is_not_a_miss_and_empty_frames_are_perfect() -> None:
    counts = match_frame(GT[:2], np.array([0.9, 0.9]), GT, DIFFICULT)
    assert counts == MatchCounts(2, 0, 0, 0)
    empty = match_frame(np.empty((0, 4)), np.empty(0), np.empty((0, 4)))
    assert empty.precision == 1.0 and empty.recall == 1.0
    assert (counts + counts).true_positives == 4


def test_agreement_requires_same_class() -> None:
    a = Detections(GT, np.ones(3, np.float32), np.array([0, 0, 2]))
    b = Detections(GT + 1, np.ones(3, np.float32), np.array([0, 1, 2]))
    assert agreement(a, b) == (1, 3, 3)  # the tiny box shifted by 1px falls below IoU 0.5


def test_tolerant_agreement_forgives_threshold_flicker_not_missing_objects() -> None:
    boxes = GT[:2]
    a = Detections(boxes, np.array([0.46, 0.9]), np.array([0, 0]))
    b = Detections(boxes + 1, np.array([0.44, 0.9]), np.array([0, 0]))
    assert tolerant_agreement(a, b, threshold=0.45, margin=0.05) == (3, 3)
    assert tolerant_agreement(a, b, threshold=0.45, margin=0.0) == (2, 3)
    c = Detections(boxes, np.array([0.1, 0.9]), np.array([0, 0]))
    assert tolerant_agreement(a, c, threshold=0.45, margin=0.05) == (2, 3)

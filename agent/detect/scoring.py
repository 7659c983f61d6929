"""Detection quality: match predictions to ground truth, precision/recall, model agreement.

Used by the accuracy tests, the benchmarks, and (later) rollout health gates, so a model
update is judged by the same arithmetic everywhere. Ground truth marked `difficult`
(heavily occluded, tiny) neither counts as missed nor penalises a detector that finds it,
as in the PASCAL VOC protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.detections import Detections, box_iou


@dataclass(frozen=True)
class MatchCounts:
    """Counts of one or many frames; add them up with `+`."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    ignored: int = 0

    def __add__(self, other: MatchCounts) -> MatchCounts:
        return MatchCounts(
            self.true_positives + other.true_positives,
            self.false_positives + other.false_positives,
            self.false_negatives + other.false_negatives,
            self.ignored + other.ignored,
        )

    @property
    def precision(self) -> float:
        """Share of predictions that matched ground truth; 1.0 when nothing was predicted."""
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        """Share of ground truth that was found; 1.0 when there was none."""
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 1.0


def greedy_match(
    pred_xyxy: np.ndarray, pred_scores: np.ndarray, gt_xyxy: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """For each prediction (best score first) the index of the unused GT it matches, or -1."""
    n = len(pred_xyxy)
    assigned = np.full(n, -1, dtype=np.int64)
    if n == 0 or len(gt_xyxy) == 0:
        return assigned
    iou = box_iou(pred_xyxy, gt_xyxy)
    used = np.zeros(len(gt_xyxy), bool)
    for i in np.argsort(-np.asarray(pred_scores), kind="stable"):
        candidates = np.where(used, -1.0, iou[i])
        j = int(candidates.argmax())
        if candidates[j] >= iou_threshold:
            assigned[i] = j
            used[j] = True
    return assigned


def match_frame(
    pred_xyxy: np.ndarray,
    pred_scores: np.ndarray,
    gt_xyxy: np.ndarray,
    gt_difficult: np.ndarray | None = None,
    iou_threshold: float = 0.5,
) -> MatchCounts:
    """TP/FP/FN for one frame and one class at the IoU threshold."""
    gt_xyxy = np.asarray(gt_xyxy, np.float32).reshape(-1, 4)
    difficult = (
        np.zeros(len(gt_xyxy), bool) if gt_difficult is None else np.asarray(gt_difficult, bool)
    )
    assigned = greedy_match(
        np.asarray(pred_xyxy, np.float32).reshape(-1, 4), pred_scores, gt_xyxy, iou_threshold
    )
    matched = assigned[assigned >= 0]
    on_difficult = difficult[matched]
    tp = int((~on_difficult).sum())
    ignored = int(on_difficult.sum())
    fp = int((assigned < 0).sum())
    found = np.zeros(len(gt_xyxy), bool)
    found[matched] = True
    fn = int((~found & ~difficult).sum())
    return MatchCounts(tp, fp, fn, ignored)


def agreement(a: Detections, b: Detections, iou_threshold: float = 0.5) -> tuple[int, int, int]:
    """(matched, len(a), len(b)): same-class pairs at the IoU threshold, e.g. FP32 vs INT8."""
    matched = 0
    for cls in np.union1d(a.class_id, b.class_id):
        ia, ib = a.class_id == cls, b.class_id == cls
        assigned = greedy_match(a.xyxy[ia], a.confidence[ia], b.xyxy[ib], iou_threshold)
        matched += int((assigned >= 0).sum())
    return matched, len(a), len(b)


def tolerant_agreement(
    a: Detections, b: Detections, threshold: float, margin: float, iou_threshold: float = 0.5
) -> tuple[int, int]:
    """(agreed, total) over the detections of both sides scoring >= `threshold`.

    A detection agrees when the other side has a same-class box at the IoU threshold scoring
    at least `threshold - margin`. Strict matching at one threshold counts a box scored 0.46
    by one model and 0.44 by the other as a disagreement; this asks the question that
    matters for quantisation, "does the other model see the same object?", while a box the
    other model scores far lower still counts against it.
    """
    agreed = total = 0
    for one, other in ((a, b), (b, a)):
        shown = one[one.confidence >= threshold]
        candidates = other[other.confidence >= threshold - margin]
        for cls in np.unique(shown.class_id):
            mine, theirs = shown[shown.class_id == cls], candidates[candidates.class_id == cls]
            if len(theirs) == 0:
                continue
            best = box_iou(mine.xyxy, theirs.xyxy).max(axis=1)
            agreed += int((best >= iou_threshold).sum())
        total += len(shown)
    return agreed, total

"""Non-maximum suppression, class-aware, in numpy.

The greedy rule is the usual one (best box first; a box is dropped if its IoU with a kept
box exceeds the threshold), computed from one pairwise IoU matrix of the candidates rather
than one IoU pass per kept box: with the tracker's low score cut a frame has 100-200
candidates and 40-60 kept boxes, and the per-kept-box loop of numpy calls cost 2-15 ms.
Above `MATRIX_LIMIT` candidates the matrix would be too big, so the loop is used instead;
both give the same indices.
"""

from __future__ import annotations

import numpy as np

from agent.detections import box_iou

# n x n float32 IoU matrix: 2048 candidates = 16 MiB, the most worth allocating per frame.
MATRIX_LIMIT = 2048


def nms(
    xyxy: np.ndarray,
    scores: np.ndarray,
    iou_threshold: float,
    class_id: np.ndarray | None = None,
    max_detections: int = 300,
) -> np.ndarray:
    """Indices of boxes kept, best first.

    Class-aware by offsetting each class's boxes far apart, so one vectorised pass
    serves all classes (a person never suppresses the bag they carry).
    """
    if len(xyxy) == 0:
        return np.empty(0, dtype=np.int64)
    boxes = np.asarray(xyxy, np.float32)
    if class_id is not None:
        offset = (boxes.max() + 1.0) * np.asarray(class_id, np.float32)[:, None]
        boxes = boxes + offset
    order = np.argsort(-np.asarray(scores), kind="stable")
    if len(order) > MATRIX_LIMIT:
        return _nms_loop(boxes, order, iou_threshold, max_detections)
    ranked = boxes[order]
    over = box_iou(ranked, ranked) > iou_threshold
    suppressed = np.zeros(len(order), bool)
    keep: list[int] = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        if len(keep) >= max_detections:
            break
        suppressed |= over[i]
    return order[np.asarray(keep, dtype=np.int64)]


def _nms_loop(
    boxes: np.ndarray, order: np.ndarray, iou_threshold: float, max_detections: int
) -> np.ndarray:
    """The same greedy rule, one IoU row per kept box (for very many candidates)."""
    keep: list[int] = []
    while order.size and len(keep) < max_detections:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        ious = box_iou(boxes[best : best + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)

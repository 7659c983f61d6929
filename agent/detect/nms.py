"""Non-maximum suppression, class-aware, in numpy."""

from __future__ import annotations

import numpy as np

from agent.detections import box_iou


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
    keep: list[int] = []
    while order.size and len(keep) < max_detections:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        ious = box_iou(boxes[best : best + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)

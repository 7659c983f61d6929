"""Detector windows: from regions of interest to square crops, and detections back again.

A NanoDet-class model sees a fixed 416x416 input. Feeding it a 416-pixel window of the frame
at native scale, instead of the whole 768x576 frame squeezed down, keeps small and distant
objects at full resolution and skips the static parts of the scene. Regions close together
share one window so a crowd costs one crop, not ten; a region larger than the window gets
a larger window that the detector scales down.
"""

from __future__ import annotations

import numpy as np

from agent.detect.nms import nms
from agent.detections import Detections, box_iou

# Context kept around a region wider than the model input, as a fraction of its size.
CONTEXT = 0.1
# A box this close (px) to a window edge that is not the frame edge was cut by the window.
EDGE_PX = 2.0
# A cut box mostly inside a whole box of the same class is the same object seen twice.
CUT_COVERED = 0.6


def _fit_square(cx: float, cy: float, side: float, frame_hw: tuple[int, int]) -> np.ndarray:
    """A square of `side` centred near (cx, cy), shifted inside the frame, clipped if larger."""
    h, w = frame_hw
    out = np.empty(4, np.float32)
    for axis, (centre, limit) in enumerate(((cx, w), (cy, h))):
        span = min(side, limit)
        lo = min(max(centre - span / 2, 0.0), limit - span)
        out[axis], out[axis + 2] = lo, lo + span
    return out


def cluster_boxes(boxes: np.ndarray, side: int) -> list[np.ndarray]:
    """Group boxes whose joint extent still fits one `side` window; each group's union box.

    Greedy, largest box first: each box joins the first group it fits with, else starts one.
    Boxes are few (motion blobs and live tracks of one frame), so a loop over them is cheap.
    """
    order = np.argsort(-((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
    unions: list[np.ndarray] = []
    for box in boxes[order]:
        for k, union in enumerate(unions):
            joined = np.concatenate(
                [np.minimum(union[:2], box[:2]), np.maximum(union[2:], box[2:])]
            )
            if max(joined[2] - joined[0], joined[3] - joined[1]) <= side:
                unions[k] = joined
                break
        else:
            unions.append(box.astype(np.float32))
    return unions


def cover_windows(
    boxes: np.ndarray, frame_hw: tuple[int, int], side: int, budget: int, max_area: float
) -> np.ndarray | None:
    """At most `budget` windows covering every box, as close to native scale as that allows.

    Tries `side`, then windows 25 % larger each step (each scaled down to the model input
    by the detector), until the boxes fit the budget. None when that needs windows covering
    `max_area` of the frame or more: one full-frame pass is then cheaper and sees as much.
    """
    h, w = frame_hw
    size = float(side)
    while True:
        windows = plan_windows(boxes, frame_hw, round(size))
        area = float(np.prod(windows[:, 2:] - windows[:, :2], axis=1).sum())
        if area >= max_area * h * w:
            return None
        if len(windows) <= budget:
            return windows
        if size >= max(h, w):
            return None
        size *= 1.25


def plan_windows(boxes: np.ndarray, frame_hw: tuple[int, int], side: int) -> np.ndarray:
    """Square detector windows (k, 4) int32 xyxy covering every box of `boxes` (n, 4).

    Windows are `side` pixels (the model input) at native scale, or larger with some context
    for a group bigger than that, clipped to the frame; windows inside another are dropped.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if not len(boxes):
        return np.empty((0, 4), np.int32)
    h, w = frame_hw
    boxes = np.clip(boxes, 0, [w, h, w, h])
    windows = []
    for union in cluster_boxes(boxes, side):
        long_side = max(union[2] - union[0], union[3] - union[1])
        size = side if long_side <= side else long_side * (1 + CONTEXT)
        cx, cy = (union[0] + union[2]) / 2, (union[1] + union[3]) / 2
        windows.append(_fit_square(cx, cy, size, frame_hw))
    stacked = np.stack(windows)
    # Outward rounding, so a window always holds the fractional boxes it was made for.
    out = np.concatenate([np.floor(stacked[:, :2] + 1e-3), np.ceil(stacked[:, 2:] - 1e-3)], 1)
    out = np.clip(out, 0, [w, h, w, h]).astype(np.int32)
    out[:, 2:] = np.maximum(out[:, 2:], out[:, :2] + 1)
    return _drop_contained(out)


def _drop_contained(windows: np.ndarray) -> np.ndarray:
    a, b = windows[:, None, :], windows[None, :, :]
    inside = np.logical_and(
        (a[..., :2] >= b[..., :2]).all(axis=2), (a[..., 2:] <= b[..., 2:]).all(axis=2)
    )
    np.fill_diagonal(inside, False)
    # Of two identical windows keep the first: only drop i if j < i or j strictly contains i.
    same = (windows[:, None, :] == windows[None, :, :]).all(axis=2)
    later_duplicate = same & np.tri(len(windows), k=-1, dtype=bool)
    drop = (inside & ~same).any(axis=1) | later_duplicate.any(axis=1)
    kept: np.ndarray = windows[~drop]
    return kept


def crop(image: np.ndarray, windows: np.ndarray) -> list[np.ndarray]:
    """Views of `image` for each window (no copy; callers must not write to them)."""
    return [image[y1:y2, x1:x2] for x1, y1, x2, y2 in windows.tolist()]


def merge_window_detections(
    windows: np.ndarray,
    per_window: list[Detections],
    frame_hw: tuple[int, int],
    iou_threshold: float = 0.5,
) -> Detections:
    """Detections of each window (in window pixels) -> one de-duplicated set in frame pixels.

    Objects in the overlap of two windows are found twice, and an object cut by a window
    edge is found as a fragment. Class-aware NMS removes the doubles, preferring boxes not
    cut by an inner window edge; a cut fragment mostly covered by a whole box of its class
    is dropped too, since its IoU with the whole box is too low for NMS to catch.
    """
    if len(windows) != len(per_window):
        raise ValueError(f"{len(windows)} windows but {len(per_window)} detection sets")
    parts, cut_flags = [], []
    h, w = frame_hw
    for window, dets in zip(np.asarray(windows, np.float32), per_window, strict=True):
        if not len(dets):
            continue
        xyxy = dets.xyxy + np.tile(window[:2], 2)
        inner = np.array([window[0] > 0, window[1] > 0, window[2] < w, window[3] < h])
        near = np.abs(xyxy - window[None, :]) <= EDGE_PX
        cut_flags.append((near & inner[None, :]).any(axis=1))
        parts.append(
            Detections(
                xyxy,
                dets.confidence,
                dets.class_id,
                dets.tracker_id,
                None if dets.keypoints is None else dets.keypoints + window[None, None, :2],
            )
        )
    if not parts:
        return Detections.empty()
    merged = Detections.merge(parts)
    cut = np.concatenate(cut_flags)
    # Whole boxes outrank every cut one in NMS; scores themselves are kept unchanged.
    rank = merged.confidence - cut.astype(np.float32)
    keep = nms(merged.xyxy, rank, iou_threshold, merged.class_id)
    kept, kept_cut = merged[keep], cut[keep]
    return kept[~_covered_fragments(kept, kept_cut)]


def _covered_fragments(dets: Detections, cut: np.ndarray) -> np.ndarray:
    """Mask of cut boxes that lie mostly inside a whole box of the same class."""
    if not cut.any() or cut.all():
        return np.zeros(len(dets), bool)
    iou = box_iou(dets.xyxy, dets.xyxy)
    areas = dets.area
    # Intersection recovered from IoU: inter = iou * (a + b) / (1 + iou).
    inter = iou * (areas[:, None] + areas[None, :]) / (1.0 + iou)
    covered = inter / np.maximum(areas[:, None], 1e-6) >= CUT_COVERED
    same_class = dets.class_id[:, None] == dets.class_id[None, :]
    by_whole = covered & same_class & ~cut[None, :]
    fragments: np.ndarray = cut & by_whole.any(axis=1)
    return fragments

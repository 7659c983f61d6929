"""Face detector measurements: known faces at several sizes, landmark error, small CCTV faces.

Each known face is tried as the whole photo, as a head crop (what the agent feeds), and as
head crops shrunk until the face is 20 and 12 pixels wide, the size of faces on a CCTV
frame. A face counts as found at IoU >= 0.4 with the hand-drawn box; landmark error is the
mean distance of eyes, nose and mouth to the hand-marked points over the eye distance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from agent.detections import Detections, box_iou
from models.build.face_data import FaceTruth, head_crop

Detect = Callable[[list[np.ndarray]], list[Detections]]

FOUND_IOU = 0.4
VIEWS = ("photo", "head", "face20px", "face12px")


@dataclass(frozen=True)
class Trial:
    """One detector on one view of one known face."""

    person: str
    view: str
    found: bool
    iou: float
    score: float
    landmark_error: float
    false_positives: int


def _views(truth: FaceTruth) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """View name -> (image, face box, 4 landmark points) in that view's pixels."""
    image = truth.load()
    box = np.array(truth.box, np.float32)
    points = np.array(truth.points, np.float32).reshape(-1, 2)
    out = {"photo": (image, box, points)}
    context = 1.6
    side = float(max(box[2] - box[0], box[3] - box[1]) * context)
    origin = (box[:2] + box[2:]) / 2 - side / 2
    crop = head_crop(image, box, context)
    scale_to_crop = crop.shape[0] / side
    crop_box = (box - np.tile(origin, 2)) * scale_to_crop
    crop_pts = (points - origin) * scale_to_crop
    out["head"] = (crop, crop_box, crop_pts)
    face_width = float(crop_box[2] - crop_box[0])
    for view, target in (("face20px", 20.0), ("face12px", 12.0)):
        factor = target / face_width
        size = max(8, round(crop.shape[0] * factor))
        small = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        real = size / crop.shape[0]
        out[view] = (small, crop_box * real, crop_pts * real)
    return out


def _landmark_error(found: Detections, points: np.ndarray) -> float:
    if found.keypoints is None or len(points) < 4:
        return float("nan")
    predicted = found.keypoints[0, :4]
    ocular = float(np.linalg.norm(points[1] - points[0]))
    return float(np.linalg.norm(predicted - points[:4], axis=1).mean() / max(ocular, 1e-6))


def trials(detect: Detect, truth: FaceTruth) -> list[Trial]:
    """Run ``detect`` on every view of ``truth`` (one batch per view: sizes differ)."""
    results = []
    for view, (image, box, points) in _views(truth).items():
        (dets,) = detect([image])
        ious = box_iou(box[None], dets.xyxy)[0] if len(dets) else np.zeros(0)
        best = int(np.argmax(ious)) if len(dets) else -1
        found = best >= 0 and ious[best] >= FOUND_IOU
        results.append(
            Trial(
                person=truth.person,
                view=view,
                found=bool(found),
                iou=float(ious[best]) if best >= 0 else 0.0,
                score=float(dets.confidence[best]) if found else 0.0,
                landmark_error=_landmark_error(dets[best], points) if found else float("nan"),
                false_positives=int((ious < 0.1).sum()),
            )
        )
    return results


def summarise(all_trials: list[Trial], strict: float) -> dict[str, float]:
    """The face detector's scores on the labelled photos, as printed and recorded.

    Found rate per view (also at a ``strict`` score threshold), mean IoU and landmark error
    over found faces, false positives.
    """
    summary: dict[str, float] = {}
    for view in VIEWS:
        subset = [t for t in all_trials if t.view == view]
        summary[f"found_{view}"] = sum(t.found for t in subset) / max(len(subset), 1)
        summary[f"strict_{view}"] = sum(t.found and t.score >= strict for t in subset) / max(
            len(subset), 1
        )
    found = [t for t in all_trials if t.found]
    summary["mean_iou"] = float(np.mean([t.iou for t in found])) if found else 0.0
    errors = [t.landmark_error for t in found if np.isfinite(t.landmark_error)]
    summary["landmark_nme"] = float(np.mean(errors)) if errors else float("nan")
    summary["false_positives"] = float(sum(t.false_positives for t in all_trials))
    return summary


def cctv_faces(
    detect: Detect, head_regions: list[np.ndarray], strict: float
) -> tuple[int, int, list[Detections]]:
    """Head regions with a face at the detector's threshold and at ``strict``.

    There is no truth for these: the contact sheet is checked by eye.
    """
    results = [detect([crop])[0] for crop in head_regions]
    loose = sum(len(r) > 0 for r in results)
    tight = sum(bool((r.confidence >= strict).any()) for r in results)
    return loose, tight, results


def draw(image: np.ndarray, dets: Detections, size: int = 160) -> np.ndarray:
    """A tile for a contact sheet: the crop, upscaled, with boxes and landmarks."""
    scale = size / max(image.shape[:2])
    tile = cv2.resize(
        image,
        (round(image.shape[1] * scale), round(image.shape[0] * scale)),
        interpolation=cv2.INTER_NEAREST,
    )
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[: tile.shape[0], : tile.shape[1]] = tile
    colours = [(0, 0, 255), (255, 0, 0), (0, 255, 0), (0, 255, 255), (255, 0, 255), (255, 255, 0)]
    for k in range(len(dets)):
        x1, y1, x2, y2 = (dets.xyxy[k] * scale).astype(int)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 255, 0), 1)
        if dets.keypoints is not None:
            for j, (px, py) in enumerate(dets.keypoints[k] * scale):
                cv2.circle(canvas, (int(px), int(py)), 2, colours[j % 6], -1)
        cv2.putText(
            canvas,
            f"{dets.confidence[k]:.2f}",
            (x1, max(10, y1 - 2)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35,
            (0, 255, 0),
            1,
        )
    return canvas

"""Face quality: where the head is, and how useful a detected face is for identification.

Watchlist matching is only as good as the shot it is given: a blurred, turned or tiny face
embeds to a vector far from the same person's enrolment photo. So each face gets a 0..1
quality from four measurable parts, and only the best shot of a track is embedded and sent:

* size: face width in source pixels, saturating at `FULL_SIZE_PX` (the embedder sees a
  224 px crop; beyond ~96 px more pixels add little);
* sharpness: variance of the Laplacian of the aligned grey crop divided by the crop's own
  intensity variance, so a dark but sharp face is not mistaken for a blurred one;
* pose: roll from the eye line and a yaw proxy (the nose tip's offset from the eye
  midpoint, in eye distances), both from the detector's landmarks;
* score: the face detector's confidence.

All functions take and return whole arrays: one call per frame, no loop per face.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]

#: Face width from which size no longer lowers quality.
FULL_SIZE_PX = 96.0
#: Sharpness ratio from which a face counts as fully sharp. Measured on the aligned test
#: portraits: sharp faces give 0.05-1.3; Gaussian blur of sigma 1.5 % of the face width
#: ~0.03, 3 % ~0.005-0.01, 6 % ~0.002.
SHARP_RATIO = 0.04
#: Roll (degrees) and yaw proxy (nose offset in eye distances) at which pose scores zero.
MAX_ROLL_DEG = 45.0
MAX_YAW = 0.6
#: Weights of the parts in the weighted geometric mean: one bad part pulls quality down
#: (a sharp profile is still useless), but no single part zeroes it.
WEIGHTS = {"size": 0.3, "sharpness": 0.35, "pose": 0.2, "score": 0.15}
#: Head square side as a share of the person box height, when the box is tall and narrow
#: the side is the box width; the square starts this share of its side above the box top,
#: since person detectors often clip the top of the head.
HEAD_HEIGHT_SHARE = 0.6
HEAD_TOP_MARGIN = 0.1
#: Largest face width seen relative to its head square (a tight portrait: ~0.55). A square
#: smaller than min_face_px / MAX_FACE_SHARE cannot hold a face worth detecting.
MAX_FACE_SHARE = 0.6


@dataclass(frozen=True)
class QualityParts:
    """Per-face quality parts (each (n,), 0..1) and the combined quality."""

    size: F32
    sharpness: F32
    pose: F32
    score: F32

    @property
    def quality(self) -> F32:
        """Weighted geometric mean of the parts (`WEIGHTS`): one poor part pulls it down."""
        logs = sum(w * np.log(np.clip(getattr(self, k), 1e-6, 1.0)) for k, w in WEIGHTS.items())
        combined: F32 = np.exp(logs / sum(WEIGHTS.values())).astype(np.float32)
        return combined


def head_side(xyxy: npt.ArrayLike) -> F32:
    """Side of the (unclipped) head square of each person box (n, 4) -> (n,)."""
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    width = np.clip(boxes[:, 2] - boxes[:, 0], 0, None)
    height = np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    return np.minimum(width, HEAD_HEIGHT_SHARE * height).astype(np.float32)


def head_regions(xyxy: npt.ArrayLike, frame_hw: tuple[int, int]) -> npt.NDArray[np.int64]:
    """Integer head squares (x1, y1, x2, y2) for person boxes, clipped to the frame.

    The square is centred on the box horizontally and hangs from its top: for a standing
    person (narrow box) it covers head and shoulders, for a portrait or a half-body box it
    covers the upper 60 %, where the face is.
    """
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    side = head_side(boxes).astype(np.float64)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    top = boxes[:, 1] - HEAD_TOP_MARGIN * side
    out = np.stack([cx - side / 2, top, cx + side / 2, top + side], axis=1)
    h, w = frame_hw
    out[:, 0::2] = out[:, 0::2].clip(0, w)
    out[:, 1::2] = out[:, 1::2].clip(0, h)
    return np.rint(out).astype(np.int64)


def sharpness(crops: npt.ArrayLike) -> F32:
    """Contrast-normalised Laplacian variance of aligned BGR crops (n, s, s, 3) -> (n,)."""
    arr = np.asarray(crops, np.uint8)
    if len(arr) == 0:
        return np.empty(0, np.float32)
    grey = arr.astype(np.float32) @ np.array([0.114, 0.587, 0.299], np.float32)
    lap = np.stack([cv2.Laplacian(g, cv2.CV_32F) for g in grey])
    ratio: F32 = (
        lap.reshape(len(arr), -1).var(axis=1)
        / np.maximum(grey.reshape(len(arr), -1).var(axis=1), 1.0)
    ).astype(np.float32)
    return ratio


def pose_angles(keypoints: npt.ArrayLike) -> tuple[F32, F32]:
    """(roll in degrees, yaw proxy) from BlazeFace landmarks (n, k>=3, 2).

    Points 0 and 1 are the eyes, 2 the nose tip. The yaw proxy is the nose tip's horizontal
    offset from the eye midpoint measured along the eye line, in eye distances: ~0 frontal,
    ~0.5 for a three-quarter view.
    """
    pts = np.asarray(keypoints, np.float64)
    eye_vec = pts[:, 1] - pts[:, 0]
    eye_dist = np.maximum(np.linalg.norm(eye_vec, axis=1), 1e-6)
    roll = np.degrees(np.arctan2(eye_vec[:, 1], eye_vec[:, 0]))
    offset = pts[:, 2] - (pts[:, 0] + pts[:, 1]) / 2
    yaw = (offset * eye_vec).sum(axis=1) / eye_dist**2
    return roll.astype(np.float32), yaw.astype(np.float32)


def face_quality(
    face_xyxy: npt.ArrayLike,
    keypoints: npt.ArrayLike,
    scores: npt.ArrayLike,
    sharpness_ratio: npt.ArrayLike,
) -> QualityParts:
    """Quality parts for n faces (boxes in source pixels, landmarks, scores, sharpness)."""
    boxes = np.asarray(face_xyxy, np.float32).reshape(-1, 4)
    roll, yaw = pose_angles(keypoints) if len(boxes) else (np.empty(0), np.empty(0))
    ratio = np.asarray(sharpness_ratio, np.float32)
    size = np.clip((boxes[:, 2] - boxes[:, 0]) / FULL_SIZE_PX, 0.0, 1.0)
    pose = np.clip(1 - np.abs(roll) / MAX_ROLL_DEG, 0, 1) * np.clip(1 - np.abs(yaw) / MAX_YAW, 0, 1)
    return QualityParts(
        size.astype(np.float32),
        np.clip(ratio / SHARP_RATIO, 0, 1).astype(np.float32),
        pose.astype(np.float32),
        np.clip(np.asarray(scores, np.float32), 0, 1),
    )

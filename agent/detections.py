"""`Detections`: the one type that flows between agent stages.

A dataclass of parallel numpy arrays, in the manner of Roboflow supervision, so per-frame
maths stays vectorised and no stage passes bare tuples. Shapes are checked at construction
and the message carries the offending shape, because a silent broadcast here corrupts every
stage after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

NO_TRACK = -1


def _as(array: npt.ArrayLike, dtype: type) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(array, dtype=dtype))


@dataclass(frozen=True)
class Detections:
    """Detections of one frame in source pixels.

    Attributes:
        xyxy: boxes, shape (n, 4), float32, as x1, y1, x2, y2.
        confidence: scores in [0, 1], shape (n,).
        class_id: class indices into the model's labels, shape (n,).
        tracker_id: track ids, shape (n,); ``NO_TRACK`` (-1) before tracking.
        keypoints: optional landmarks, shape (n, k, 2), e.g. 5-6 face points.
    """

    xyxy: FloatArray
    confidence: FloatArray
    class_id: IntArray
    tracker_id: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    keypoints: FloatArray | None = None

    def __post_init__(self) -> None:
        xyxy = _as(self.xyxy, np.float32)
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (n, 4), got {xyxy.shape}")
        n = xyxy.shape[0]
        confidence = _as(self.confidence, np.float32).reshape(-1)
        class_id = _as(self.class_id, np.int64).reshape(-1)
        tracker_id = _as(self.tracker_id, np.int64).reshape(-1)
        if tracker_id.size == 0 and n:
            tracker_id = np.full(n, NO_TRACK, dtype=np.int64)
        for name, arr in (
            ("confidence", confidence),
            ("class_id", class_id),
            ("tracker_id", tracker_id),
        ):
            if arr.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},) to match xyxy, got {arr.shape}")
        keypoints = self.keypoints
        if keypoints is not None:
            keypoints = _as(keypoints, np.float32)
            if keypoints.ndim != 3 or keypoints.shape[0] != n or keypoints.shape[2] != 2:
                raise ValueError(f"keypoints must have shape ({n}, k, 2), got {keypoints.shape}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "class_id", class_id)
        object.__setattr__(self, "tracker_id", tracker_id)
        object.__setattr__(self, "keypoints", keypoints)

    @classmethod
    def empty(cls) -> Detections:
        """No detections, with the right dtypes and shapes, so stages never special-case None."""
        return cls(np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, np.int64))

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: int | slice | npt.NDArray[np.bool_] | IntArray) -> Detections:
        """Select rows; an int index still returns a one-row `Detections`."""
        if isinstance(index, int | np.integer):
            index = np.array([index])
        kp = None if self.keypoints is None else self.keypoints[index]
        return Detections(
            self.xyxy[index],
            self.confidence[index],
            self.class_id[index],
            self.tracker_id[index],
            kp,
        )

    def __iter__(self) -> Iterator[Detections]:
        for i in range(len(self)):
            yield self[i]

    @property
    def area(self) -> FloatArray:
        """Box areas in pixels, for ranking and size filters (degenerate boxes give 0, not < 0)."""
        wh: FloatArray = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return (wh[:, 0] * wh[:, 1]).astype(np.float32)

    @property
    def bottom_center(self) -> FloatArray:
        """Ground contact point (x, y) per box: where a person or vehicle meets the road."""
        x = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2
        return np.stack([x, self.xyxy[:, 3]], axis=1).astype(np.float32)

    @property
    def center(self) -> FloatArray:
        """Box centres (x, y), where a whole-object point is wanted rather than ground contact."""
        return ((self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2).astype(np.float32)

    @staticmethod
    def merge(parts: list[Detections]) -> Detections:
        """Concatenate detections, e.g. from several crops of one frame."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return Detections.empty()
        kps = [p.keypoints for p in parts if p.keypoints is not None]
        keypoints: FloatArray | None = np.concatenate(kps) if len(kps) == len(parts) else None
        return Detections(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.confidence for p in parts]),
            np.concatenate([p.class_id for p in parts]),
            np.concatenate([p.tracker_id for p in parts]),
            keypoints,
        )


def box_iou(a: FloatArray, b: FloatArray) -> FloatArray:
    """Pairwise IoU of boxes a (n, 4) and b (m, 4) -> (n, m), vectorised."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)

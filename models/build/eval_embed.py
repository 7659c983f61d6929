"""Embedding measurements: the same face under augmentation versus different people.

Each known face is cut as a head crop, augmented (flip, blur, brightness, rotation, rescale,
JPEG), re-detected and aligned exactly as the agent would, then embedded. A good embedder
keeps every augmented copy closer to its original than any other person's face gets:
``margin = min(same-person cosine) - max(different-person cosine)`` must be positive, and the
larger the safer a fixed threshold is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

import cv2
import numpy as np

from agent.detections import Detections
from agent.faces.align import AlignmentError, align_face
from models.build.face_data import AUGMENTATIONS, FaceTruth, head_crop

CROP_SIDE = 192

Detect = Callable[[list[np.ndarray]], list[Detections]]
Embed = Callable[[np.ndarray], np.ndarray]

#: name -> (colour order, mean, std): the preprocessing conventions these models were
#: trained with differ and the upstream JSON does not say; measurement decides.
NORMALISATIONS: dict[str, tuple[str, float, float]] = {
    "rgb[-1,1]": ("RGB", 127.5, 127.5),
    "bgr[-1,1]": ("BGR", 127.5, 127.5),
    "rgb[0,1]": ("RGB", 0.0, 255.0),
    "bgr[0,1]": ("BGR", 0.0, 255.0),
    "rgb[0,255]": ("RGB", 0.0, 1.0),
    "bgr[0,255]": ("BGR", 0.0, 1.0),
    "rgb[-128,128]": ("RGB", 127.5, 1.0),
    "bgr[-128,128]": ("BGR", 127.5, 1.0),
}


def _central_face(dets: Detections, shape: tuple[int, ...]) -> int | None:
    """The detection nearest the crop centre (the head crop is centred on the face)."""
    if not len(dets) or dets.keypoints is None:
        return None
    centre = np.array([shape[1] / 2, shape[0] / 2], np.float32)
    return int(np.argmin(np.linalg.norm(dets.center - centre, axis=1)))


def aligned_faces(
    detect: Detect, truths: list[FaceTruth], size: int
) -> dict[str, dict[str, np.ndarray]]:
    """Person -> {"original" | augmentation: aligned BGR crop}; misses are left out."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for truth in truths:
        # Same scale for every person (face ~120 px) so a blur or rescale costs each face the
        # same detail; the photos' faces range from 37 to 200 px.
        crop = cv2.resize(
            head_crop(truth.load(), np.array(truth.box, np.float32), 1.6),
            (CROP_SIDE, CROP_SIDE),
            interpolation=cv2.INTER_CUBIC,
        )
        variants = {"original": crop, **{k: f(crop) for k, f in AUGMENTATIONS.items()}}
        faces: dict[str, np.ndarray] = {}
        for name, image in variants.items():
            (dets,) = detect([image])
            pick = _central_face(dets, image.shape)
            if pick is None:
                continue
            try:
                faces[name] = align_face(image, dets.keypoints[pick], size)  # type: ignore[index]
            except AlignmentError:
                continue
        if "original" in faces:
            out[truth.person] = faces
    return out


@dataclass(frozen=True)
class Separation:
    """How well an embedder keeps people apart: cosine similarities within and across persons."""

    same_min: float
    same_mean: float
    diff_max: float
    diff_mean: float
    pairs_same: int
    pairs_diff: int

    @property
    def margin(self) -> float:
        """Worst same-person minus best different-person similarity; > 0 means separable."""
        return self.same_min - self.diff_max


def embed_all(
    faces: dict[str, dict[str, np.ndarray]], embed: Embed
) -> dict[str, dict[str, np.ndarray]]:
    """Embed every aligned crop, keeping the person -> view -> vector nesting."""
    return {
        p: dict(zip(v, embed(np.stack(list(v.values()))), strict=True)) for p, v in faces.items()
    }


def per_augmentation(vectors: dict[str, dict[str, np.ndarray]]) -> dict[str, float]:
    """Worst same-person cosine for each augmentation: which change hurts most."""
    worst: dict[str, float] = {}
    for vec in vectors.values():
        for name, other in vec.items():
            if name != "original":
                worst[name] = min(worst.get(name, 1.0), float(vec["original"] @ other))
    return worst


def separation(vectors: dict[str, dict[str, np.ndarray]]) -> Separation:
    """Cosine statistics of same-person (original vs augmented) and cross-person pairs."""
    same = [
        float(vec["original"] @ other)
        for vec in vectors.values()
        for name, other in vec.items()
        if name != "original"
    ]
    diff = [
        float(a @ b)
        for p, q in combinations(vectors, 2)
        for a in vectors[p].values()
        for b in vectors[q].values()
    ]
    return Separation(
        same_min=min(same, default=float("nan")),
        same_mean=float(np.mean(same)),
        diff_max=max(diff, default=float("nan")),
        diff_mean=float(np.mean(diff)),
        pairs_same=len(same),
        pairs_diff=len(diff),
    )

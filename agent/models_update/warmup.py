"""Warm-up: a new model reproduces what it found on its reference frames, or is refused.

Before it may replace the running model, it must find on the frames shipped with it what
it found there when it was packaged, within the manifest's tolerance.

This catches what checksums cannot: an artifact for another input size or colour order, a
decoder that does not fit, a backend that computes something else on this CPU. The same
code makes the expected detections when a model is packaged (`reference_warmup`), so the
box and the packager compare like with like.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from agent.detect.object_detector import ObjectDetector
from agent.detections import Detections
from agent.inference.backend import Model
from models.schema import ExpectedDetection, ReferenceFrame, Tolerance, Warmup


@dataclass(frozen=True)
class WarmupOutcome:
    """How the model did on the reference frames."""

    ok: bool
    frames: int
    expected: int
    found: int
    matched: int
    detail: str
    seconds: float


def decode_frame(data: bytes, what: str) -> np.ndarray:
    """A BGR image from JPEG/PNG bytes; ValueError naming `what` when it is not one."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{what}: not a decodable image")
    return image


def _iou(a: Sequence[float], b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[0], b[:, 0])
    y1 = np.maximum(a[1], b[:, 1])
    x2 = np.minimum(a[2], b[:, 2])
    y2 = np.minimum(a[3], b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / np.maximum(area_a + area_b - inter, 1e-9))


def match_frame(
    expected: Sequence[ExpectedDetection], found: Detections, labels: Sequence[str], tol: Tolerance
) -> int:
    """How many expected detections a distinct found one matches (label, IoU, score)."""
    used = np.zeros(len(found), bool)
    names = [labels[c] if 0 <= c < len(labels) else str(c) for c in found.class_id.tolist()]
    matched = 0
    for want in sorted(expected, key=lambda e: -e.score):
        if not len(found):
            break
        ious = _iou(want.box, found.xyxy)
        ok = (
            ~used
            & (ious >= tol.iou)
            & (np.abs(found.confidence - want.score) <= tol.score)
            & np.array([n == want.label for n in names])
        )
        if ok.any():
            best = int(np.argmax(np.where(ok, ious, -1.0)))
            used[best] = True
            matched += 1
    return matched


def run_warmup(model: Model, warmup: Warmup, images: Sequence[np.ndarray]) -> WarmupOutcome:
    """Detect on each reference frame at the recorded threshold and compare."""
    started = time.perf_counter()
    detector = ObjectDetector(model, score_threshold=warmup.score_threshold)
    tol = warmup.tolerance
    expected = found = matched = 0
    worst = ""
    worst_share = 2.0
    for index, (frame, image) in enumerate(zip(warmup.frames, images, strict=True)):
        dets = detector.detect([image])[0]
        hits = match_frame(frame.expected, dets, detector.labels, tol)
        expected += len(frame.expected)
        found += len(dets)
        matched += hits
        share = min(hits / max(len(frame.expected), 1), hits / max(len(dets), 1))
        if not frame.expected and not len(dets):
            share = 1.0
        if share < worst_share:
            worst_share = share
            worst = (
                f"frame {index} ({frame.name or frame.sha256[:12]}): {hits} of "
                f"{len(frame.expected)} expected found, {len(dets)} detections in all"
            )
    recall = matched / expected if expected else (1.0 if not found else 0.0)
    precision = matched / found if found else (1.0 if not expected else 0.0)
    ok = recall >= tol.min_match and precision >= tol.min_match
    detail = (
        f"matched {matched}/{expected} expected, {found} found "
        f"(need {tol.min_match:.0%} both ways); worst {worst}"
    )
    return WarmupOutcome(
        ok, len(images), expected, found, matched, detail, time.perf_counter() - started
    )


def reference_warmup(
    model: Model,
    frames: Sequence[Path],
    *,
    score_threshold: float | None = None,
    tolerance: Tolerance | None = None,
) -> Warmup:
    """The warm-up section for a model being packaged: what it finds on `frames` now."""
    threshold = float(
        score_threshold
        if score_threshold is not None
        else model.spec.defaults.get("score_threshold", 0.35)
    )
    detector = ObjectDetector(model, score_threshold=threshold)
    refs = []
    for path in frames:
        data = path.read_bytes()
        dets = detector.detect([decode_frame(data, str(path))])[0]
        expected = tuple(
            ExpectedDetection(
                label=detector.label(int(c)),
                box=tuple(round(float(v), 2) for v in box),
                score=round(float(s), 4),
            )
            for box, s, c in zip(dets.xyxy, dets.confidence, dets.class_id, strict=True)
        )
        refs.append(
            ReferenceFrame(
                sha256=hashlib.sha256(data).hexdigest(),
                bytes=len(data),
                name=path.name,
                expected=expected,
            )
        )
    return Warmup(frames=tuple(refs), tolerance=tolerance or Tolerance(), score_threshold=threshold)

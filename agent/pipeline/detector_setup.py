"""The models of a box (or of an offline run), loaded once for all the cameras they serve.

That is the object detector, and the face model pair if any camera runs faces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.config.analytics import CameraAnalyticsConfig
from agent.detect.object_detector import ObjectDetector
from agent.detect.worker import InferenceWorker
from agent.errors import ConfigError
from agent.faces.models import FaceModelPair, WorkerFaceModels
from agent.inference.backend import load_model, load_spec
from agent.inference.manifest import ModelSpec


@dataclass
class ModelRef:
    """Name, version and checksum of the model events are stamped with."""

    name: str
    version: str
    sha256: str


def model_ref(detector: ObjectDetector) -> ModelRef:
    """The loaded detector's identity, read from its manifest entry, for event provenance."""
    spec = detector.model.spec
    return ModelRef(spec.name, spec.version, spec.sha256)


def detector_threshold(specs: Sequence[CameraAnalyticsConfig]) -> float:
    """Score threshold the shared detector must run at for every camera's tracker.

    ByteTrack's second stage feeds on detections between its low and high thresholds, so
    the detector must not cut them off: the lowest `tracker.low_threshold` of the box wins.
    """
    if not specs:
        return CameraAnalyticsConfig().tracker.low_threshold
    return min(spec.tracker.low_threshold for spec in specs)


def make_detector(
    specs: Sequence[CameraAnalyticsConfig],
    model: str | ModelSpec = "nanodet-g",
    *,
    precision: str | None = None,
    backend: str = "auto",
    threads: int | None = None,
    score_threshold: float | None = None,
) -> ObjectDetector:
    """Load `model` and run it at the lowest score any camera's tracker needs.

    The manifest's default threshold suits a bare detector; a tracker wants the weaker
    boxes too (its second stage), and its own thresholds decide what becomes a track.
    `model` is a name of models/manifest.json, or the spec of a verified fleet model.
    Raises `ModelError` (unknown model, tampered file, backend missing).
    """
    threshold = detector_threshold(specs) if score_threshold is None else score_threshold
    if isinstance(model, ModelSpec):
        loaded = load_spec(model, backend, threads)
    else:
        loaded = load_model(model, precision, backend, threads)
    return ObjectDetector(loaded, score_threshold=threshold)


def runs_faces(spec: CameraAnalyticsConfig) -> bool:
    """Whether this camera needs the face models: a faces section that is enabled."""
    return spec.faces is not None and spec.faces.enabled


def load_face_models(
    specs: Sequence[CameraAnalyticsConfig], *, backend: str = "auto", threads: int | None = None
) -> FaceModelPair | None:
    """The one face model pair for `specs`' cameras, or None if none of them runs faces.

    Raises `ModelError` (model missing, tampered file, backend missing), `ConfigError` when
    the cameras name different face detectors or embedders.
    """
    faces = [s.faces for s in specs if s.faces is not None and runs_faces(s)]
    if not faces:
        return None
    detectors = sorted({f.detector for f in faces})
    embedders = sorted({f.embedder for f in faces})
    if len(detectors) > 1:
        raise ConfigError(
            f"faces.detector: one box loads one face detector, cameras ask for {detectors}"
        )
    if len(embedders) > 1:
        raise ConfigError(
            f"faces.embedder: one box loads one face embedder, cameras ask for {embedders}"
        )
    return FaceModelPair.load(backend, threads, detector=detectors[0], embedder=embedders[0])


def worker_face_models(
    specs: Sequence[CameraAnalyticsConfig], worker: InferenceWorker
) -> WorkerFaceModels | None:
    """`load_face_models`, registered on the box's inference worker (see `agent.faces.models`)."""
    pair = load_face_models(specs)
    return pair.on_worker(worker) if pair is not None else None

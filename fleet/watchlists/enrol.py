"""Enrolment photos -> templates, through the boxes' own face library.

The ONLY fleet module that imports `agent.faces` / `agent.inference` (and with them OpenCV
and ONNX Runtime), and only inside `FaceEnroller.load` and `enrol`: the server's other
paths never load them, and `import fleet.server` stays light
(tests/test_package_boundaries.py checks both). Using the agent's detector, quality gate,
alignment and embedder - not a copy of them - is what makes an enrolment template
comparable with what a box sends: same model files, same preprocessing, same version.

Every refusal says why in words an operator can act on: not an image, no face, several
faces, face too small, blurred, turned away (profile), too low quality overall.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config.analytics import FaceConfig
from fleet.errors import FleetError
from fleet.watchlists.records import EmbedderKey

log = logging.getLogger(__name__)

#: The models a box's faces analytic runs by default (agent/analytics/faces.py, the faces
#: section's `detector` default), in the same precision: a gallery must be made the way
#: the probes it is searched with are.
DETECTOR_MODEL: str = FaceConfig.model_fields["detector"].default
EMBEDDER_MODEL = "faceres"
PRECISION = "fp32"
#: Aligned size for the sharpness measure: the boxes measure it on their 112 px shots.
SHOT_SIZE = 112
#: Quality parts under which a photo is refused with that part as the reason. Stricter than
#: the boxes' overall `min_quality`: an enrolment photo is chosen, a CCTV frame is not.
MIN_SHARPNESS_PART = 0.5
MIN_POSE_PART = 0.5
#: A second face counts only if it is at least this share of the largest face's width, so
#: a tiny face in a poster behind the subject does not refuse a good portrait.
OTHER_FACE_SHARE = 0.5
OTHER_FACE_SCORE = 0.4


def enrolment_embedder(manifest: Path | None = None) -> EmbedderKey:
    """The embedder new subjects are enrolled with, read from the manifest (no model load)."""
    from agent.errors import ModelError
    from agent.inference.manifest import load_manifest

    try:
        spec = load_manifest(manifest).best(EMBEDDER_MODEL, PRECISION)
    except ModelError as err:
        raise FleetError(f"cannot read the enrolment model manifest: {err}") from err
    return EmbedderKey(spec.name, spec.version)


class PhotoRefusedError(FleetError):
    """An enrolment photo cannot be used; the message says why."""


@dataclass(frozen=True)
class Enrolled:
    """One accepted photo: its unit vector and what the quality gate measured."""

    embedder: EmbedderKey
    vector: bytes  # float32 little-endian, unit length
    dimensions: int
    sha256: str
    quality: float
    face_width_px: float
    sharpness: float
    pose: float
    detector_score: float


class FaceEnroller:
    """Detector + embedder pair of the boxes, loaded once per server on first enrolment.

    Not thread-safe: the servicer runs one enrolment at a time in a worker thread.
    """

    def __init__(self, detector: Any, embedder: Any, config: FaceConfig | None = None) -> None:
        self._detector = detector
        self._embedder = embedder
        self.config = config or FaceConfig()
        spec = embedder.model.spec
        self.embedder_key = EmbedderKey(spec.name, spec.version)

    @classmethod
    def load(
        cls,
        backend: str = "onnxruntime",
        threads: int | None = 1,
        manifest: Path | None = None,
        embedder_name: str = EMBEDDER_MODEL,
    ) -> FaceEnroller:
        """With the face models of `manifest` (None: the shipped models/manifest.json)."""
        from agent.errors import OkoError
        from agent.faces.embedding import FaceEmbedder
        from agent.faces.face_detector import FaceDetector
        from agent.inference.backend import load_model
        from agent.inference.manifest import load_manifest

        try:
            models = load_manifest(manifest)
            detector = FaceDetector(
                load_model(DETECTOR_MODEL, PRECISION, backend, threads, manifest=models)
            )
            embedder = FaceEmbedder(
                load_model(embedder_name, PRECISION, backend, threads, manifest=models)
            )
        except OkoError as err:
            raise FleetError(f"cannot load the face models for enrolment: {err}") from err
        log.info("enrolment face models loaded: %s, %s", DETECTOR_MODEL, embedder_name)
        return cls(detector, embedder)

    def enrol(self, data: bytes) -> Enrolled:
        """One photo (JPEG/PNG bytes) -> its template, or PhotoRefusedError saying why."""
        import cv2
        import numpy as np

        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
        if image is None:
            raise PhotoRefusedError("not a readable JPEG or PNG image")
        box, points, score = self._one_face(image)
        return self._embed(image, box, points, score, hashlib.sha256(data).hexdigest())

    def _one_face(self, image: Any) -> tuple[Any, Any, float]:
        (faces,) = self._detector.detect([image])
        cfg = self.config
        # Other people count at the looser OTHER_FACE_SCORE: a face too weak to be enrolled
        # is still someone else in the photo (CenterFace scores a second, smaller face at ~0.5).
        seen = faces.confidence >= min(OTHER_FACE_SCORE, cfg.score_threshold)
        if not seen.any() or faces.keypoints is None:
            raise PhotoRefusedError("no face found")
        boxes, points, scores = faces.xyxy[seen], faces.keypoints[seen], faces.confidence[seen]
        widths = boxes[:, 2] - boxes[:, 0]
        big = int(widths.argmax())
        others = int((widths >= OTHER_FACE_SHARE * widths[big]).sum()) - 1
        if others:
            raise PhotoRefusedError(
                f"{others + 1} faces found; an enrolment photo must show exactly one person"
            )
        if scores[big] < cfg.score_threshold:
            raise PhotoRefusedError(
                f"no face found (best score {scores[big]:.2f}, {cfg.score_threshold:.2f} needed)"
            )
        if widths[big] < cfg.min_face_px:
            raise PhotoRefusedError(
                f"face too small: {widths[big]:.0f} px wide, at least {cfg.min_face_px:.0f} needed"
            )
        return boxes[big], points[big], float(scores[big])

    def _embed(self, image: Any, box: Any, points: Any, score: float, sha256: str) -> Enrolled:
        import numpy as np

        from agent.faces.align import AlignmentError, align_face
        from agent.faces.quality import face_quality, sharpness

        try:
            shot = align_face(image, points, SHOT_SIZE)
            crop = self._embedder.align(image, points)
        except AlignmentError as err:
            raise PhotoRefusedError(f"face cannot be aligned: {err}") from err
        parts = face_quality(box[None], points[None], np.array([score]), sharpness(shot[None]))
        quality = float(parts.quality[0])
        if parts.sharpness[0] < MIN_SHARPNESS_PART:
            raise PhotoRefusedError(f"face is blurred (sharpness {parts.sharpness[0]:.2f} of 1)")
        if parts.pose[0] < MIN_POSE_PART:
            raise PhotoRefusedError(
                f"face is turned away or tilted (profile; pose {parts.pose[0]:.2f} of 1)"
            )
        if quality < self.config.min_quality:
            raise PhotoRefusedError(f"face quality {quality:.2f} below {self.config.min_quality}")
        vector = self._embedder.embed(crop[None])[0].astype("<f4")
        return Enrolled(
            self.embedder_key,
            vector.tobytes(),
            int(vector.shape[0]),
            sha256,
            quality,
            float(box[2] - box[0]),
            float(parts.sharpness[0]),
            float(parts.pose[0]),
            score,
        )

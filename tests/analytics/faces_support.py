"""Real inputs for the faces tests: the shipped models and short "tracks" from real photos.

A track here is a sequence of frames made from ONE real photograph (resized, blurred,
darkened), with the person box NanoDet really found on the original photo, scaled with it.
The tracker id is set by the test: the subject under test is the face analytic, not the
tracker, and this way each photo is one person with a known identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import cv2
import numpy as np

from agent.analytics.faces import FaceAnalyzer
from agent.config.analytics import FaceConfig
from agent.detect.object_detector import ObjectDetector
from agent.detections import Detections
from agent.events.types import AnalyticsEvent
from agent.faces.embedding import FaceEmbedder
from agent.faces.face_detector import FaceDetector
from agent.faces.models import DETECTOR_MODEL, FaceModelPair
from agent.inference.backend import load_model
from tests.test_face_models import KNOWN

DATA = Path(__file__).resolve().parents[1] / "data"
PHOTOS = ("astronaut.png", "grace_hopper.jpg", "messi5.jpg")
LABELS = ("person",)


@lru_cache(maxsize=1)
def object_detector() -> ObjectDetector:
    return ObjectDetector(load_model("nanodet-m"))


@lru_cache(maxsize=2)
def face_pair(detector: str = DETECTOR_MODEL) -> FaceModelPair:
    """The shipped pair with the default face detector (or ``detector``)."""
    return FaceModelPair(
        FaceDetector(load_model(detector)),
        FaceEmbedder(load_model("faceres", "fp32")),
    )


def face_models() -> tuple[FaceDetector, FaceEmbedder]:
    pair = face_pair()
    return pair.detector, pair.embedder


def analyzer(**overrides: object) -> FaceAnalyzer:
    return FaceAnalyzer(FaceConfig(**overrides), face_pair(), LABELS)


@cache
def photo(name: str) -> np.ndarray:
    image = cv2.imread(str(DATA / name))
    assert image is not None, name
    image.setflags(write=False)
    return image


@cache
def person_box(name: str) -> tuple[float, float, float, float]:
    """NanoDet's most confident person on the photo (the portrait's subject)."""
    detector = object_detector()
    (found,) = detector.detect([photo(name)])
    people = found[found.class_id == detector.labels.index("person")]
    assert len(people), f"NanoDet found no person in {name}"
    x1, y1, x2, y2 = (float(v) for v in people.xyxy[int(np.argmax(people.confidence))])
    return (x1, y1, x2, y2)


def face_width(name: str) -> float:
    """Hand-marked face width on the original photo (tests/test_face_models.py)."""
    x1, _, x2, _ = KNOWN[name]
    return float(x2 - x1)


@dataclass(frozen=True)
class View:
    """How one frame of a track is made from the photo."""

    scale: float = 1.0
    blur: float = 0.0  # Gaussian sigma as a share of the face width in this frame
    gain: float = 1.0  # brightness factor

    def render(self, name: str, track_id: int) -> tuple[np.ndarray, Detections]:
        image = photo(name)
        if self.scale != 1.0:
            image = cv2.resize(
                image, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA
            )
        if self.blur:
            image = cv2.GaussianBlur(image, (0, 0), self.blur * face_width(name) * self.scale)
        if self.gain != 1.0:
            image = np.clip(image.astype(np.float32) * self.gain, 0, 255).astype(np.uint8)
        box = np.array(person_box(name), np.float32) * self.scale
        tracks = Detections(
            box[None], np.array([0.8], np.float32), np.array([0]), np.array([track_id])
        )
        return image, tracks


def empty_frame() -> tuple[np.ndarray, Detections]:
    return np.zeros((120, 160, 3), np.uint8), Detections.empty()


def hopper_face_event() -> AnalyticsEvent:
    """One real face event (Grace Hopper's best shot, track 3), for the shot-store tests."""
    fa = analyzer(emit_quality=1.0)
    frame, tracks = View(1.0).render("grace_hopper.jpg", 3)
    fa.update(frame, tracks, 1_700_000_000.5)
    (event,) = fa.flush(1_700_000_001.0)
    return event

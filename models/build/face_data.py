"""Real face images for choosing, calibrating and checking the face models.

Four people, one photo each, from packages the build already installs: OpenCV's sample
``messi5.jpg`` (Debian opencv-doc, copied to tests/data), NASA's astronaut portrait and the
cameraman from scikit-image, Grace Hopper from matplotlib. Face boxes and eye/nose/mouth
points below were read off zoomed, gridded renderings of each image by hand. Small faces come
from the walkers in ``vtest.avi``: the head region of each person box NanoDet finds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from agent.errors import ModelError
from models.build.calibration import REPO_ROOT

TEST_DATA = REPO_ROOT / "tests" / "data"


def _skimage_data(name: str) -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data" / name


@dataclass(frozen=True)
class FaceTruth:
    """One hand-labelled face.

    Box (x1, y1, x2, y2) and image-left eye, image-right eye, nose tip, mouth centre, all in
    source pixels.
    """

    person: str
    path: Path
    box: tuple[float, float, float, float]
    points: tuple[tuple[float, float], ...]

    def load(self) -> np.ndarray:
        """The photo as BGR; ModelError if it cannot be read."""
        image = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        if image is None:
            raise ModelError(f"cannot read face image {self.path}")
        return image


def truths() -> list[FaceTruth]:
    """The hand-labelled faces in OpenCV's and scikit-image's test photos.

    The cameraman is a profile view: a box, but no landmarks.
    """
    return [
        FaceTruth(
            "messi",
            TEST_DATA / "messi5.jpg",
            (220, 90, 257, 132),
            ((229, 105), (247, 104), (240, 115), (241, 124)),
        ),
        FaceTruth(
            "astronaut",
            TEST_DATA / "astronaut.png",
            (180, 75, 270, 165),
            ((202, 102), (247, 102), (225, 127), (225, 145)),
        ),
        FaceTruth(
            "grace_hopper",
            TEST_DATA / "grace_hopper.jpg",
            (165, 140, 365, 335),
            ((222, 190), (305, 190), (265, 245), (265, 275)),
        ),
        FaceTruth("cameraman", _skimage_data("camera.png"), (190, 110, 250, 180), ()),
    ]


Augment = Callable[[np.ndarray], np.ndarray]


def _rotate(degrees: float) -> Augment:
    def apply(image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
        return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)

    return apply


def _rescale(factor: float) -> Augment:
    """Down and back up: the detail a face loses when it is ``factor`` times as far away."""

    def apply(image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        small = cv2.resize(
            image,
            (max(1, round(w * factor)), max(1, round(h * factor))),
            interpolation=cv2.INTER_AREA,
        )
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)

    return apply


def _brightness(gain: float, bias: float) -> Augment:
    def apply(image: np.ndarray) -> np.ndarray:
        scaled: np.ndarray = np.clip(image.astype(np.float32) * gain + bias, 0, 255)
        return scaled.astype(np.uint8)

    return apply


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
    if decoded is None:
        raise ModelError("JPEG round trip failed")
    return np.asarray(decoded)


AUGMENTATIONS: dict[str, Augment] = {
    "flip": lambda image: np.ascontiguousarray(image[:, ::-1]),
    "blur": lambda image: cv2.GaussianBlur(image, (0, 0), 2.0),
    "darker": _brightness(0.6, -10),
    "brighter": _brightness(1.3, 25),
    "rotate+8": _rotate(8.0),
    "rotate-8": _rotate(-8.0),
    "rescale0.4": _rescale(0.4),
    "jpeg30": lambda image: _jpeg(image, 30),
}


def head_crop(image: np.ndarray, box: np.ndarray, context: float = 1.6) -> np.ndarray:
    """Square crop around a face-sized region: what the agent cuts from a person's head."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * context
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = round(cx - side / 2), round(cy - side / 2)
    size = round(side)
    pad = max(0, -left, -top, left + size - image.shape[1], top + size - image.shape[0])
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return padded[top + pad : top + pad + size, left + pad : left + pad + size].copy()


def person_head_regions(frame: np.ndarray, person_boxes: np.ndarray) -> list[np.ndarray]:
    """Head regions of person boxes.

    A square of a quarter of the person's height, centred on the upper eighth of the box, with
    50% context (heads are ~1/7 of standing height).
    """
    crops = []
    for x1, y1, x2, y2 in np.asarray(person_boxes, np.float32):
        side = (y2 - y1) * 0.25
        cx, cy = (x1 + x2) / 2, y1 + (y2 - y1) * 0.12
        head = np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])
        crops.append(head_crop(frame, head, context=1.5))
    return crops

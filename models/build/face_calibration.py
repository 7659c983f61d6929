"""Calibration and held-out inputs for the face models, cut from real faces.

The face detector is calibrated on head crops, as the agent feeds it: the known photos'
faces under augmentation plus the head regions of walkers in vtest.avi. The embedder is
calibrated on aligned faces produced by the face detector just built (read from the
manifest being written), so its activation ranges come from the same alignment it serves.
Grace Hopper's crops are held out of calibration and used to measure INT8 against FP32.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from agent.detect.object_detector import ObjectDetector
from agent.errors import ModelError
from agent.faces.align import align_face
from agent.faces.face_detector import FaceDetector
from agent.inference.backend import load_model
from models.build.calibration import VTEST, read_frames, to_input
from models.build.face_data import AUGMENTATIONS, head_crop, person_head_regions, truths
from models.build.recipes import Recipe

HELD_OUT = "grace_hopper"
Inputs = tuple[list[np.ndarray], list[np.ndarray], str]


def photo_head_crops() -> dict[str, list[np.ndarray]]:
    """Person -> head crop and its augmented copies."""
    out = {}
    for truth in truths():
        crop = head_crop(truth.load(), np.array(truth.box, np.float32), 1.6)
        crop = cv2.resize(crop, (192, 192), interpolation=cv2.INTER_CUBIC)
        out[truth.person] = [crop, *(augment(crop) for augment in AUGMENTATIONS.values())]
    return out


def walker_head_crops(manifest: Path, frames: int = 6) -> list[np.ndarray]:
    """Head regions of people the INT8 detector finds in vtest.avi: CCTV-like faces."""
    detector = ObjectDetector(
        load_model("nanodet-g", "int8", "onnxruntime", manifest=manifest),
        score_threshold=0.5,
        classes=["person"],
    )
    images = read_frames(VTEST, frames)
    crops: list[np.ndarray] = []
    for frame, dets in zip(images, detector.detect(images), strict=True):
        crops += person_head_regions(frame, dets.xyxy)
    return crops


def detector_inputs(recipe: Recipe, manifest: Path) -> Inputs:
    """Calibration and held-out inputs for the face detector, with how they were made.

    Photos of one person are held out, so the INT8 check runs on faces calibration never saw.
    """
    photos = photo_head_crops()
    walkers = walker_head_crops(manifest)
    calib_images = [c for p, cs in photos.items() if p != HELD_OUT for c in cs] + walkers
    held_images = photos[HELD_OUT]
    calib = [to_input(image, recipe.input) for image in calib_images]
    held = [to_input(image, recipe.input) for image in held_images]
    described = (
        f"{len(calib)} head crops: 3 photographed faces x 9 augmentations and "
        f"{len(walkers)} walker head regions from vtest.avi"
    )
    return calib, held, described


def embedder_inputs(recipe: Recipe, manifest: Path, detector: str) -> Inputs:
    """Calibration and held-out inputs for the embedder: faces aligned as the agent aligns them."""
    faces = FaceDetector(load_model(detector, "fp32", "onnxruntime", manifest=manifest))
    size = recipe.input.shape[1]
    aligned: dict[str, list[np.ndarray]] = {}
    for person, crops in photo_head_crops().items():
        for crop, dets in zip(crops, faces.detect(crops), strict=True):
            if len(dets) and dets.keypoints is not None:
                aligned.setdefault(person, []).append(align_face(crop, dets.keypoints[0], size))
    if HELD_OUT not in aligned:
        raise ModelError(f"{detector} found no face in the held-out {HELD_OUT} crops")
    calib = [
        to_input(a, recipe.input) for p, group in aligned.items() if p != HELD_OUT for a in group
    ]
    held = [to_input(a, recipe.input) for a in aligned[HELD_OUT]]
    described = (
        f"{len(calib)} aligned faces ({detector} landmarks): 3 photographed people "
        "x augmentations; the fourth person held out for the INT8 check"
    )
    return calib, held, described

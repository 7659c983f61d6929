"""Build one recipe end to end: convert, quantise, measure, copy into ``models/``."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agent.errors import ModelError
from models.build import manifest
from models.build.calibration import VTEST, read_frames, to_input
from models.build.convert import convert
from models.build.fetch import UpstreamPackage
from models.build.quantize import METHOD, agreement, quantize
from models.build.recipes import Recipe

log = logging.getLogger(__name__)

Step = Callable[[str], None]


Inputs = tuple[list[np.ndarray], list[np.ndarray], str]


def scene_inputs(recipe: Recipe, count: int = 24) -> Inputs:
    """Frames spread over vtest.avi (2 of 3 calibrate, 1 of 3 held out) plus still photos.

    CCTV frames alone hold only small, distant people; calibrated on them, INT8 clipped the
    activations of a person filling the frame and missed Messi in messi5.jpg. Close-up
    photos widen the ranges to cover both scales. Grace Hopper's portrait is held out.
    """
    from models.build.face_data import truths

    frames = [to_input(f, recipe.input) for f in read_frames(VTEST, count)]
    held = frames[2::3]
    calib = [f for i, f in enumerate(frames) if i % 3 != 2]
    photos = {t.person: to_input(t.load(), recipe.input) for t in truths()}
    held.append(photos.pop("grace_hopper"))
    calib += list(photos.values())
    described = (
        f"{len(calib)} images: {len(calib) - len(photos)} frames of "
        f"tests/data/vtest.avi spread over the clip and {len(photos)} close-up photos "
        f"({', '.join(photos)})"
    )
    return calib, held, described


def calibration_inputs(recipe: Recipe, manifest_path: Path) -> Inputs:
    """Dispatch on ``recipe.calibration`` ("kind" or "kind:detector")."""
    kind, _, detector = recipe.calibration.partition(":")
    if kind == "scenes":
        return scene_inputs(recipe)
    from models.build import face_calibration

    if kind == "face-images":
        return face_calibration.detector_inputs(recipe, manifest_path)
    if kind == "aligned-faces" and detector:
        return face_calibration.embedder_inputs(recipe, manifest_path, detector)
    raise ModelError(f"{recipe.name}: unknown calibration {recipe.calibration!r}")


def build_recipe(
    recipe: Recipe, package: UpstreamPackage, workdir: Path, out_dir: Path, step: Step
) -> list[dict[str, Any]]:
    """Return manifest entries for the files of ``recipe`` now sitting in ``out_dir``.

    Calibration may use models built earlier in the same run (the face embedder is
    calibrated on faces aligned by the face detector), read from ``out_dir``'s manifest.
    """
    step(f"{recipe.name}: converting")
    fp32 = convert(recipe, package.models_dir, workdir / recipe.name)
    entries: list[dict[str, Any]] = []
    if "int8" in recipe.precisions:
        step(f"{recipe.name}: calibrating and quantising")
        calib, held, described = calibration_inputs(recipe, out_dir / "manifest.json")
        int8 = quantize(fp32, fp32.with_name(recipe.file_for("int8")), recipe, calib)
        agree = agreement(fp32, int8, recipe, held)
        log.info("%s int8 vs fp32 worst cosine %.4f", recipe.name, agree.worst_cosine)
        if agree.worst_cosine < recipe.min_int8_cosine:
            raise ModelError(
                f"{recipe.name}: INT8 output cosine {agree.worst_cosine:.4f} "
                f"< {recipe.min_int8_cosine} against FP32; ship FP32 only"
            )
        quant = {
            "method": f"{METHOD}, {recipe.calibrate_method} ranges",
            "calibration": described,
            "held_out_cosine_vs_fp32": {k: round(v, 4) for k, v in agree.cosine.items()},
        }
        shutil.copyfile(int8, out_dir / int8.name)
        entries.append(manifest.entry(recipe, "int8", out_dir / int8.name, package, quant))
    if "fp32" in recipe.precisions:
        shutil.copyfile(fp32, out_dir / fp32.name)
        entries.append(manifest.entry(recipe, "fp32", out_dir / fp32.name, package, None))
    return entries

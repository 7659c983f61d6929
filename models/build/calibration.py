"""Real calibration inputs for static INT8 quantisation.

Activation ranges are measured on the kind of pixels the model will see in service: frames
of real CCTV footage for the object detector, real face crops for the face models. Random or
synthetic tensors would set ranges that real images never reach (or clip ones they do).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np

from agent.errors import ModelError
from agent.inference.preprocess import normalise, resize_image
from models.build.recipes import InputSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
VTEST = REPO_ROOT / "tests" / "data" / "vtest.avi"


def read_frames(video: Path, count: int) -> list[np.ndarray]:
    """``count`` BGR frames spread evenly over the whole clip, so scenes vary."""
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise ModelError(f"cannot open calibration video {video}")
    try:
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        frames: list[np.ndarray] = []
        for index in np.linspace(0, max(total - 1, 0), count).astype(int):
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(index))
            ok, frame = cap.read()
            if ok:
                frames.append(frame)
    finally:
        cap.release()
    if len(frames) < count:
        raise ModelError(f"read only {len(frames)} of {count} frames from {video}")
    return frames


def to_input(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """One BGR uint8 image -> a (1, ...) float32 tensor.

    Goes through the agent's own resize and normalisation, so calibration sees exactly what
    the deployed model will be fed.
    """
    size_hw = (spec.shape[2], spec.shape[3]) if spec.layout == "NCHW" else spec.shape[1:3]
    pixels, _ = resize_image(image, (int(size_hw[0]), int(size_hw[1])), spec.resize)
    # normalise() reads only layout, color, mean and std, which InputSpec shares.
    return normalise(pixels[None], cast(Any, spec))


class TensorReader:
    """ONNX Runtime ``CalibrationDataReader`` over ready-made input tensors."""

    def __init__(self, input_name: str, tensors: Iterable[np.ndarray]) -> None:
        self._input_name = input_name
        self._tensors = list(tensors)
        self._iter: Iterator[np.ndarray] = iter(self._tensors)

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next calibration input, or None when all were given (ONNX Runtime's contract)."""
        tensor = next(self._iter, None)
        return None if tensor is None else {self._input_name: tensor}

    def rewind(self) -> None:
        """Start again from the first tensor, for a second calibration pass."""
        self._iter = iter(self._tensors)

    def __len__(self) -> int:
        return len(self._tensors)

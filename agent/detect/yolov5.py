"""Decode YOLOv5's single output into boxes (model-input pixels), in numpy.

The Ultralytics exporter bakes the head's decoding into the graph: one tensor
(batch, rows, 5 + classes), one row per anchor of every grid cell of strides 8/16/32
(25200 rows at 640x640), each (cx, cy, w, h, objectness, class scores), all already passed
through the sigmoid. Its TF/TF.js export divides the boxes by the input size ("to reduce
calibration error" when quantising), so `box_scale="input"` multiplies them back.

Score = objectness x best class score, as upstream ranks them. Objectness bounds the score
from above, so rows below the threshold on objectness alone are dropped before any class
work: at the tracker's 0.15 that leaves a few hundred of 25200.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.detect.nanodet import RawBoxes

# Most candidates handed to NMS per image (best scores first); upstream caps at 30000, but a
# frame of this kind of camera never has more than a few hundred above the tracker's cut.
MAX_CANDIDATES = 4096


@dataclass(frozen=True)
class YoloV5Params:
    """Decoder parameters from the manifest's `decoder` block."""

    num_classes: int = 80
    box_scale: str = "input"  # "input": boxes are fractions of the input; "pixels": as is

    @classmethod
    def from_decoder(cls, decoder: Mapping[str, Any]) -> YoloV5Params:
        """Read and check the manifest's parameters; a ValueError names the bad one."""
        scale = str(decoder.get("box_scale", "input"))
        if scale not in ("input", "pixels"):
            raise ValueError(f"decoder.box_scale: {scale!r} is neither 'input' nor 'pixels'")
        classes = int(decoder.get("num_classes", 80))
        if not 1 <= classes <= 1000:
            raise ValueError(f"decoder.num_classes: {classes} not in 1..1000")
        return cls(num_classes=classes, box_scale=scale)


def _empty() -> RawBoxes:
    return RawBoxes(np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, np.int64))


def _decode_one(
    rows: np.ndarray, score_threshold: float, scale: np.ndarray, num_classes: int
) -> RawBoxes:
    keep = np.flatnonzero(rows[:, 4] >= score_threshold)
    if not keep.size:
        return _empty()
    cand = rows[keep]
    cls_scores = cand[:, 5 : 5 + num_classes]
    best = cls_scores.argmax(axis=1)
    scores = cand[:, 4] * cls_scores[np.arange(len(best)), best]
    passed = np.flatnonzero(scores >= score_threshold)
    if passed.size > MAX_CANDIDATES:
        passed = passed[np.argsort(-scores[passed], kind="stable")[:MAX_CANDIDATES]]
    centre = cand[passed, 0:2] * scale
    half = cand[passed, 2:4] * scale / 2
    xyxy = np.concatenate([centre - half, centre + half], axis=1)
    return RawBoxes(
        xyxy.astype(np.float32), scores[passed].astype(np.float32), best[passed].astype(np.int64)
    )


def decode_yolov5(
    outputs: list[np.ndarray],
    score_threshold: float,
    *,
    input_hw: tuple[int, int] = (640, 640),
    params: YoloV5Params | None = None,
) -> list[RawBoxes]:
    """Raw outputs of a batch -> per-image candidate boxes (xyxy in input pixels) before NMS."""
    params = params or YoloV5Params()
    if len(outputs) != 1:
        raise ValueError(f"yolov5 has one output, got {len(outputs)}")
    out = np.asarray(outputs[0])
    if out.ndim != 3 or out.shape[2] != 5 + params.num_classes:
        raise ValueError(
            f"yolov5 output must be (batch, rows, {5 + params.num_classes}), got {out.shape}"
        )
    h, w = input_hw
    scale = np.array([w, h] if params.box_scale == "input" else [1, 1], np.float32)
    return [
        _decode_one(out[b], score_threshold, scale, params.num_classes) for b in range(len(out))
    ]

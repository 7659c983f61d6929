"""Decode BlazeFace-family outputs: anchors, boxes, six landmarks, NMS.

BlazeFace predicts, per anchor, a score logit and 4 + 2k numbers: box centre offset and size
and k keypoint offsets, all in model-input pixels relative to the anchor centre. Anchors are
cell centres of one or more strided grids, several per cell; there is no anchor size (the
"fixed anchor size" variant), so decoding is additions only. Parameters come from the
manifest's ``decoder`` block; nothing model-specific is hard-coded here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.detect.nms import nms
from agent.errors import ModelError

#: BlazeFace keypoint order, as the subject sees it: "right_eye" is the eye on the image's
#: left in a frontal, unmirrored photo.
BLAZEFACE_KEYPOINTS = (
    "right_eye",
    "left_eye",
    "nose_tip",
    "mouth_center",
    "right_ear_tragion",
    "left_ear_tragion",
)


@dataclass(frozen=True)
class BlazeFaceParams:
    """Anchor grid and output layout of one BlazeFace model (from the manifest decoder)."""

    input_hw: tuple[int, int]
    layers: tuple[tuple[int, int], ...]
    num_keypoints: int = 6
    anchor_offset: float = 0.5
    score_clip: float = 100.0
    layout: str = "score_first"

    @classmethod
    def from_decoder(cls, decoder: dict[str, Any]) -> BlazeFaceParams:
        """Parameters from a manifest's decoder block; `ModelError` names a missing or bad key."""
        if decoder.get("kind") != "blazeface":
            raise ModelError(f"not a BlazeFace decoder block: kind={decoder.get('kind')!r}")
        try:
            return cls(
                input_hw=(int(decoder["input_hw"][0]), int(decoder["input_hw"][1])),
                layers=tuple((int(s), int(n)) for s, n in decoder["anchor_layers"]),
                num_keypoints=int(decoder.get("num_keypoints", 6)),
                anchor_offset=float(decoder.get("anchor_offset", 0.5)),
                score_clip=float(decoder.get("score_clip", 100.0)),
                layout=str(decoder.get("layout", "score_first")),
            )
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise ModelError(f"malformed BlazeFace decoder block {decoder!r}: {err}") from err


def anchor_centres(params: BlazeFaceParams) -> np.ndarray:
    """(A, 2) anchor centres (x, y) in model-input pixels, in the model's output order."""
    height, width = params.input_hw
    parts = []
    for stride, per_cell in params.layers:
        rows, cols = -(-height // stride), -(-width // stride)
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        centres = np.stack(
            [(xs + params.anchor_offset) * stride, (ys + params.anchor_offset) * stride], axis=-1
        ).reshape(-1, 1, 2)
        parts.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(parts).astype(np.float32)


def split_outputs(
    outputs: list[np.ndarray], params: BlazeFaceParams
) -> tuple[np.ndarray, np.ndarray]:
    """Raw outputs -> (logits (n, A), regressors (n, A, 4 + 2k)) whatever the layout.

    ``score_first``: one tensor per head with the logit in channel 0 (full-range model).
    ``pairs``: (scores, regressors) tensor pairs, one pair per anchor layer group.
    """
    width = 4 + 2 * params.num_keypoints
    if params.layout == "score_first":
        merged = np.concatenate([np.asarray(o) for o in outputs], axis=1)
        return merged[..., 0], merged[..., 1 : 1 + width]
    if params.layout == "pairs" and len(outputs) % 2 == 0:
        logits = np.concatenate([np.asarray(o)[..., 0] for o in outputs[0::2]], axis=1)
        regs = np.concatenate([np.asarray(o)[..., :width] for o in outputs[1::2]], axis=1)
        return logits, regs
    raise ModelError(f"cannot split {len(outputs)} outputs with layout {params.layout!r}")


@dataclass(frozen=True)
class RawFaces:
    """Faces of one image in model-input pixels, after NMS, best first."""

    xyxy: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray


def decode_blazeface(
    outputs: list[np.ndarray], params: BlazeFaceParams, score_threshold: float, nms_iou: float
) -> list[RawFaces]:
    """Decode a batch of raw outputs into per-image faces (model-input pixels)."""
    logits, regs = split_outputs(outputs, params)
    anchors = anchor_centres(params)
    if logits.shape[1] != anchors.shape[0]:
        raise ModelError(
            f"model gives {logits.shape[1]} anchors, decoder expects "
            f"{anchors.shape[0]}: wrong anchor_layers?"
        )
    clipped = np.clip(logits.astype(np.float64), -params.score_clip, params.score_clip)
    scores = 1.0 / (1.0 + np.exp(-clipped))
    results = []
    for img_scores, img_regs in zip(scores, regs, strict=True):
        keep = np.flatnonzero(img_scores >= score_threshold)
        reg, anchor = img_regs[keep], anchors[keep]
        centre = anchor + reg[:, 0:2]
        half = reg[:, 2:4] / 2
        xyxy = np.concatenate([centre - half, centre + half], axis=1)
        points = reg[:, 4:].reshape(len(keep), params.num_keypoints, 2) + anchor[:, None, :]
        order = nms(xyxy, img_scores[keep], nms_iou)
        results.append(
            RawFaces(
                xyxy[order].astype(np.float32),
                img_scores[keep][order].astype(np.float32),
                points[order].astype(np.float32),
            )
        )
    return results

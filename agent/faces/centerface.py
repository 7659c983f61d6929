"""Decode CenterFace outputs: heatmap peaks, box sizes, sub-cell offsets, five landmarks.

CenterFace is anchor-free: at stride 4 it predicts a face-centre heatmap, per cell the log
of the face's height and width, the centre's sub-cell offset, and five landmarks as fractions
of the box measured from its top-left corner (channel 2j is point j's y, 2j + 1 its x). A face
is a heatmap cell above the threshold; overlapping neighbours are removed by NMS. Being
dense at stride 4 is why it still finds 10-15 px faces that BlazeFace's 16/32 grids miss.
Parameters come from the manifest's ``decoder`` block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.detect.nms import nms
from agent.errors import ModelError
from agent.faces.blazeface import RawFaces

#: CenterFace keypoint order, in image terms (the ArcFace template's order).
CENTERFACE_KEYPOINTS = ("left_eye", "right_eye", "nose_tip", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class CenterFaceParams:
    """Output grid of one CenterFace model (from the manifest decoder)."""

    stride: int = 4
    num_keypoints: int = 5

    @classmethod
    def from_decoder(cls, decoder: dict[str, Any]) -> CenterFaceParams:
        """Parameters from a manifest's decoder block; `ModelError` names a bad block."""
        if decoder.get("kind") != "centerface":
            raise ModelError(f"not a CenterFace decoder block: kind={decoder.get('kind')!r}")
        try:
            return cls(
                stride=int(decoder.get("stride", 4)),
                num_keypoints=len(decoder.get("keypoints", CENTERFACE_KEYPOINTS)),
            )
        except (TypeError, ValueError) as err:
            raise ModelError(f"malformed CenterFace decoder block {decoder!r}: {err}") from err


def _check(outputs: list[np.ndarray], params: CenterFaceParams) -> list[np.ndarray]:
    if len(outputs) != 4:
        raise ModelError(
            f"CenterFace gives 4 outputs (heatmap, scale, offset, landmarks), got {len(outputs)}"
        )
    heat, scale, offset, marks = (np.asarray(o, np.float32) for o in outputs)
    n, _, gh, gw = heat.shape
    want = ((n, 1, gh, gw), (n, 2, gh, gw), (n, 2, gh, gw), (n, 2 * params.num_keypoints, gh, gw))
    got = (heat.shape, scale.shape, offset.shape, marks.shape)
    if got != want:
        raise ModelError(f"CenterFace output shapes {got}, expected {want}")
    return [heat, scale, offset, marks]


def decode_centerface(
    outputs: list[np.ndarray], params: CenterFaceParams, score_threshold: float, nms_iou: float
) -> list[RawFaces]:
    """Decode a batch of raw outputs into per-image faces (model-input pixels), best first."""
    heat, scale, offset, marks = _check(outputs, params)
    stride, k = params.stride, params.num_keypoints
    results = []
    for i in range(heat.shape[0]):
        rows, cols = np.nonzero(heat[i, 0] >= score_threshold)
        scores = heat[i, 0, rows, cols]
        height = np.exp(scale[i, 0, rows, cols]) * stride
        width = np.exp(scale[i, 1, rows, cols]) * stride
        cy = (rows + offset[i, 0, rows, cols] + 0.5) * stride
        cx = (cols + offset[i, 1, rows, cols] + 0.5) * stride
        x1, y1 = cx - width / 2, cy - height / 2
        xyxy = np.stack([x1, y1, x1 + width, y1 + height], axis=1)
        frac = marks[i][:, rows, cols].T.reshape(len(rows), k, 2)  # (y, x) per point
        points = np.stack(
            [
                x1[:, None] + frac[..., 1] * width[:, None],
                y1[:, None] + frac[..., 0] * height[:, None],
            ],
            axis=-1,
        )
        order = nms(xyxy, scores, nms_iou)
        results.append(
            RawFaces(
                xyxy[order].astype(np.float32),
                scores[order].astype(np.float32),
                points[order].astype(np.float32),
            )
        )
    return results

"""`FaceDetector`: head crops (or frames) in, faces with landmarks in source pixels out.

Same shape as `agent.detect.ObjectDetector`: one batched backend call, then decoding and
NMS per image, thresholds defaulting to the manifest's (the values the tests measured).
The decoder follows the manifest's ``decoder.kind``: BlazeFace (six points: eyes, nose tip,
mouth centre, ears) or CenterFace (five points: eyes, nose tip, mouth corners).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from agent.detections import Detections
from agent.errors import ModelError
from agent.faces.blazeface import BlazeFaceParams, RawFaces, decode_blazeface
from agent.faces.centerface import CenterFaceParams, decode_centerface
from agent.inference.backend import Model
from agent.inference.manifest import ModelSpec
from agent.inference.preprocess import preprocess

Decode = Callable[[list[np.ndarray], float, float], list[RawFaces]]


def _decoder(model: Model) -> tuple[Decode, BlazeFaceParams | CenterFaceParams]:
    """The decoding function of the model's ``decoder.kind`` and its parameters."""
    decoder = model.spec.decoder
    kind = decoder.get("kind")
    if kind == "blazeface":
        blaze = BlazeFaceParams.from_decoder(decoder)
        return (lambda out, t, iou: decode_blazeface(out, blaze, t, iou)), blaze
    if kind == "centerface":
        centre = CenterFaceParams.from_decoder(decoder)
        return (lambda out, t, iou: decode_centerface(out, centre, t, iou)), centre
    raise ModelError(f"{model.spec.key}: no face decoder for kind={kind!r}")


class FaceDetector:
    """Batched face detection; `Detections.keypoints` holds the model's landmarks.

    ``input_hw`` overrides the manifest's input size for models whose height and width are
    free (``decoder.dynamic_hw_multiple`` in the manifest): a whole frame at native scale,
    say. It must then be a multiple of that number.
    """

    def __init__(
        self,
        model: Model,
        score_threshold: float | None = None,
        nms_iou: float | None = None,
        input_hw: tuple[int, int] | None = None,
    ) -> None:
        spec = model.spec
        self.model = model
        self._decode, self.params = _decoder(model)
        self.num_keypoints = self.params.num_keypoints
        self.keypoint_names: tuple[str, ...] = tuple(spec.decoder.get("keypoints", ()))
        self.score_threshold = float(
            score_threshold
            if score_threshold is not None
            else spec.defaults.get("score_threshold", 0.5)
        )
        self.nms_iou = float(nms_iou if nms_iou is not None else spec.defaults.get("nms_iou", 0.3))
        self.spec = spec if input_hw is None else _resized(model, input_hw)

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        """Faces per BGR image, boxes clipped to the image, best first."""
        if not images:
            return []
        batch, transforms = preprocess(images, self.spec)
        raws = self._decode(self.model.run(batch), self.score_threshold, self.nms_iou)
        results = []
        for raw, transform, image in zip(raws, transforms, images, strict=True):
            height, width = image.shape[:2]
            boxes = transform.to_source(raw.xyxy)
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
            flat = raw.keypoints.reshape(len(raw.xyxy), 2 * self.num_keypoints)
            points = transform.to_source(flat)
            results.append(
                Detections(
                    boxes,
                    raw.scores,
                    np.zeros(len(boxes), np.int64),
                    keypoints=points.reshape(len(boxes), self.num_keypoints, 2),
                )
            )
        return results


def _resized(model: Model, input_hw: tuple[int, int]) -> ModelSpec:
    """The model's spec with another input size, refused where the graph's size is fixed."""
    spec = model.spec
    multiple = int(spec.decoder.get("dynamic_hw_multiple", 0))
    height, width = (int(v) for v in input_hw)
    if multiple <= 0:
        raise ModelError(
            f"{spec.key}: input size is fixed at {spec.input_hw}, cannot run {input_hw}"
        )
    if height <= 0 or width <= 0 or height % multiple or width % multiple:
        raise ModelError(f"{spec.key}: input {input_hw} must be positive multiples of {multiple}")
    shape = list(spec.input_shape)
    if spec.layout == "NCHW":
        shape[2:4] = [height, width]
    else:
        shape[1:3] = [height, width]
    return dataclasses.replace(spec, input_shape=tuple(shape))

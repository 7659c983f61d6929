"""`FaceDetector`: head crops (or frames) in, faces with landmarks in source pixels out.

Same shape as `agent.detect.ObjectDetector`: one batched backend call, then decoding and
NMS per image, thresholds defaulting to the manifest's (the values the tests measured).
"""

from __future__ import annotations

import numpy as np

from agent.detections import Detections
from agent.faces.blazeface import BlazeFaceParams, decode_blazeface
from agent.inference.backend import Model
from agent.inference.preprocess import preprocess


class FaceDetector:
    """Batched face detection; `Detections.keypoints` holds the model's landmarks."""

    def __init__(
        self, model: Model, score_threshold: float | None = None, nms_iou: float | None = None
    ) -> None:
        spec = model.spec
        self.model = model
        self.params = BlazeFaceParams.from_decoder(spec.decoder)
        self.keypoint_names: tuple[str, ...] = tuple(spec.decoder.get("keypoints", ()))
        self.score_threshold = float(
            score_threshold
            if score_threshold is not None
            else spec.defaults.get("score_threshold", 0.5)
        )
        self.nms_iou = float(nms_iou if nms_iou is not None else spec.defaults.get("nms_iou", 0.3))

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        """Faces per BGR image, boxes clipped to the image, best first."""
        if not images:
            return []
        batch, transforms = preprocess(images, self.model.spec)
        raws = decode_blazeface(
            self.model.run(batch), self.params, self.score_threshold, self.nms_iou
        )
        results = []
        for raw, transform, image in zip(raws, transforms, images, strict=True):
            height, width = image.shape[:2]
            boxes = transform.to_source(raw.xyxy)
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
            flat = raw.keypoints.reshape(len(raw.xyxy), 2 * self.params.num_keypoints)
            points = transform.to_source(flat)
            results.append(
                Detections(
                    boxes,
                    raw.scores,
                    np.zeros(len(boxes), np.int64),
                    keypoints=points.reshape(raw.keypoints.shape),
                )
            )
        return results

"""`ObjectDetector`: frames in, `Detections` in source pixels out.

Glues preprocessing, one batched backend call, decoding and NMS. Thresholds default to the
manifest's, so the numbers the accuracy tests were measured with are the ones shipped. The
decoder is chosen by the manifest's `decoder.kind` (NanoDet, YOLOv5), so a model is a data
change: everything after decoding (NMS, classes, back to source pixels) is shared.
"""

from __future__ import annotations

import numpy as np

from agent.detect.nanodet import RawBoxes, decode_nanodet
from agent.detect.nms import nms
from agent.detect.yolov5 import YoloV5Params, decode_yolov5
from agent.detections import Detections
from agent.errors import ModelError
from agent.inference.backend import Model
from agent.inference.preprocess import preprocess

DECODERS = ("nanodet", "yolov5")


class ObjectDetector:
    """Batched object detection with a manifest-described model."""

    def __init__(
        self,
        model: Model,
        score_threshold: float | None = None,
        nms_iou: float | None = None,
        classes: list[str] | None = None,
    ) -> None:
        spec = model.spec
        kind = spec.decoder.get("kind")
        if kind not in DECODERS:
            raise ModelError(f"{spec.key}: ObjectDetector cannot decode {kind!r} outputs")
        self._yolov5: YoloV5Params | None = None
        if kind == "yolov5":
            try:
                self._yolov5 = YoloV5Params.from_decoder(spec.decoder)
            except ValueError as err:
                raise ModelError(f"{spec.key}: {err}") from err
        self.model = model
        self.labels: tuple[str, ...] = spec.labels
        self.score_threshold = float(
            score_threshold
            if score_threshold is not None
            else spec.defaults.get("score_threshold", 0.35)
        )
        self.nms_iou = float(nms_iou if nms_iou is not None else spec.defaults.get("nms_iou", 0.6))
        self._keep_classes: np.ndarray | None = None
        if classes:
            unknown = sorted(set(classes) - set(self.labels))
            if unknown:
                raise ModelError(f"{spec.key}: unknown class(es) {unknown}")
            self._keep_classes = np.array([self.labels.index(c) for c in classes])

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        """Detect in a batch of BGR frames (any sizes); one `Detections` per frame."""
        if not images:
            return []
        spec = self.model.spec
        batch, transforms = preprocess(images, spec)
        raws = self._decode(self.model.run(batch))
        results = []
        for raw, transform, image in zip(raws, transforms, images, strict=True):
            mask = np.ones(len(raw.scores), bool)
            if self._keep_classes is not None:
                mask = np.isin(raw.class_id, self._keep_classes)
            xyxy, scores, cls = raw.xyxy[mask], raw.scores[mask], raw.class_id[mask]
            keep = nms(xyxy, scores, self.nms_iou, cls)
            boxes = transform.to_source(xyxy[keep])
            h, w = image.shape[:2]
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
            results.append(Detections(boxes, scores[keep], cls[keep]))
        return results

    def _decode(self, outputs: list[np.ndarray]) -> list[RawBoxes]:
        """Candidate boxes per image in model-input pixels, by the manifest's decoder kind."""
        spec = self.model.spec
        try:
            if self._yolov5 is not None:
                return decode_yolov5(
                    outputs, self.score_threshold, input_hw=spec.input_hw, params=self._yolov5
                )
            return decode_nanodet(
                outputs,
                self.score_threshold,
                num_classes=len(self.labels) or 80,
                reg_max=int(spec.decoder.get("reg_max", 10)),
                input_size=spec.input_hw[1],
                center_offset=float(spec.decoder.get("center_offset", 0.5)),
            )
        except ValueError as err:  # outputs not shaped as the manifest says
            raise ModelError(f"{spec.key}: {err}") from err

    def label(self, class_id: int) -> str:
        """Display name of a class id; the id itself when the labels do not cover it."""
        return self.labels[class_id] if 0 <= class_id < len(self.labels) else str(class_id)

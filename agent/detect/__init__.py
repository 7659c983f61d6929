"""Object detection: raw model outputs to `Detections`; the box's shared detect worker."""

from agent.detect.nms import nms
from agent.detect.object_detector import ObjectDetector

__all__ = ["ObjectDetector", "nms"]

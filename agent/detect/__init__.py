"""Object detection: decoding raw model outputs into `Detections` in source pixels."""

from agent.detect.detector import ObjectDetector
from agent.detect.nms import nms

__all__ = ["ObjectDetector", "nms"]

"""Detect-stream pixels <-> main-stream pixels, for cameras that detect on a substream.

One rule for the whole box: everything after the detector is in main-stream pixels. The
detector and motion gate see the substream; its detections are scaled up here as they leave
the detector, and the live track boxes the gate asks for are scaled down here on the way
back. Lines, zones, calibrations, tracker settings and events therefore keep the pixels an
operator reads off the main stream, and switching a camera to a substream changes no rule.
Pure numpy, no I/O.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from agent.config.camera import MotionConfig
from agent.detections import Detections

Scale = tuple[float, float]
IDENTITY: Scale = (1.0, 1.0)


def scale_boxes(xyxy: npt.ArrayLike, scale: Scale) -> npt.NDArray[np.float32]:
    """(n, 4) xyxy boxes times (sx, sy) per axis, as a new float32 array."""
    sx, sy = scale
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    return boxes * np.array([sx, sy, sx, sy], np.float32)


def to_main(found: Detections, scale: Scale) -> Detections:
    """Detections in detect-stream pixels -> the same detections in main-stream pixels."""
    if scale == IDENTITY or not len(found):
        return found
    keypoints = None
    if found.keypoints is not None:
        keypoints = found.keypoints * np.array(scale, np.float32)
    return Detections(
        scale_boxes(found.xyxy, scale),
        found.confidence,
        found.class_id,
        found.tracker_id,
        keypoints,
    )


def to_detect(xyxy: npt.ArrayLike, scale: Scale) -> npt.NDArray[np.float32]:
    """Main-stream boxes (e.g. live tracks) -> detect-stream pixels."""
    sx, sy = scale
    return scale_boxes(xyxy, (1.0 / sx, 1.0 / sy))


def gate_config(motion: MotionConfig, scale: Scale) -> MotionConfig:
    """The motion gate's settings for a detect stream `scale` times smaller than the main.

    `min_area` is configured in main-stream pixels like every other pixel setting; the gate
    measures regions on the substream, so the area shrinks by sx * sy there.
    """
    if scale == IDENTITY:
        return motion
    area = max(1, round(motion.min_area / (scale[0] * scale[1])))
    return motion.model_copy(update={"min_area": area})

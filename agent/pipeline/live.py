"""Frames for the console's live view: the latest analysed frame, drawn on and JPEG-encoded.

What is drawn is what the rules saw: confirmed tracks with their ids, every counting line
with its counts and every zone with its occupancy (`agent.annotate`), on the last frame the
camera's stage processed. Frames are scaled to the width the fleet asked for and encoded
at the best quality that fits its byte limit. A camera detecting on a substream shows the
substream's picture, upscaled to the main stream's size its tracks and rules are drawn in
(the live view never makes the box decode the main stream).
"""

from __future__ import annotations

import cv2
import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from agent.annotate import draw_line, draw_tracks, draw_zone
from agent.pipeline.stage import CameraStage, FrameResult
from proto.oko.v1 import console_pb2

QUALITIES = (80, 65, 50, 35, 20)


def annotated(result: FrameResult, stage: CameraStage) -> np.ndarray:
    """The frame with tracks, lines (with counts) and zones (occupancy) drawn.

    Reads the rules' live state: call it where the camera's stage is not running (under
    the camera's lock, or on its own thread).
    """
    analytics = stage.analytics
    img = draw_tracks(result.frame.event_image(), result.tracks, analytics.labels)
    for zone in analytics.zones.values():
        img = draw_zone(img, zone)
    for line in analytics.lines.values():
        img = draw_line(img, line)
    return img


def encode(
    img: np.ndarray, capture_time: float, tracks: int, max_width: int, max_bytes: int
) -> console_pb2.LiveFrame:
    """A LiveFrame of `img` at most `max_width` wide and `max_bytes` long (or an error)."""
    height, width = img.shape[:2]
    if width > max_width:
        height = max(1, round(height * max_width / width))
        width = max_width
        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    stamp = Timestamp()
    stamp.FromNanoseconds(int(capture_time * 1e9))
    for quality in QUALITIES:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and len(buf) <= max_bytes:
            return console_pb2.LiveFrame(
                capture_time=stamp,
                width=width,
                height=height,
                jpeg=buf.tobytes(),
                tracks=tracks,
            )
    return console_pb2.LiveFrame(
        capture_time=stamp,
        error=f"a {width}x{height} frame does not fit in {max_bytes} bytes even at quality "
        f"{QUALITIES[-1]}",
    )

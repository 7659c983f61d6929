"""`Frame`: one decoded picture with the timestamps every later stage relies on.

Capture time is taken when the frame leaves the decoder, because events carry it to the fleet
and dwell/speed analytics are differences of it; the stream's own pts is kept beside it since
it is the only clock that survives a reader running faster than real time.

A frame read from a camera's detect substream also carries the main stream's size: events
and rules are in main-stream pixels, and `scale` is what takes detections there.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Frame:
    """A decoded BGR frame of one camera.

    Attributes:
        camera_id: the camera's configured id.
        index: per-reader frame counter over everything decoded, across reconnects; gaps
            between consecutive delivered frames are decimation or drops.
        capture_time: wall-clock seconds since the epoch when the frame was captured.
        pts: presentation time in seconds from the stream, or None if it gave none.
        image: BGR uint8 array of shape (h, w, 3). Shared, never to be written to.
        main_shape: (height, width) of the camera's main stream when `image` comes from its
            detect substream; None when `image` is the main stream itself.
    """

    camera_id: str
    index: int
    capture_time: float
    pts: float | None
    image: np.ndarray
    main_shape: tuple[int, int] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels of `image`."""
        return int(self.image.shape[0]), int(self.image.shape[1])

    @property
    def event_shape(self) -> tuple[int, int]:
        """(height, width) of the pixels events and rules are written in (the main stream)."""
        return self.main_shape if self.main_shape is not None else self.shape

    @property
    def scale(self) -> tuple[float, float]:
        """(sx, sy): image pixels times these are main-stream pixels; (1, 1) without a substream.

        Per axis, because a 352x288 (CIF) substream of a 768x576 camera is not a uniform
        shrink.
        """
        (h, w), (mh, mw) = self.shape, self.event_shape
        return mw / w, mh / h

    @property
    def scaled(self) -> bool:
        """Whether `image` is not in event pixels (a substream of another size)."""
        return self.event_shape != self.shape

    def event_image(self) -> np.ndarray:
        """`image` at main-stream size, for rules that read pixels under main-stream boxes.

        The substream upscaled (no detail is gained); `image` itself when not scaled.
        """
        if not self.scaled:
            return self.image
        mh, mw = self.event_shape
        return cv2.resize(self.image, (mw, mh), interpolation=cv2.INTER_LINEAR)

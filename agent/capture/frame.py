"""`Frame`: one decoded picture with the timestamps every later stage relies on.

Capture time is taken when the frame leaves the decoder, because events carry it to the fleet
and dwell/speed analytics are differences of it; the stream's own pts is kept beside it since
it is the only clock that survives a reader running faster than real time.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """

    camera_id: str
    index: int
    capture_time: float
    pts: float | None
    image: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return int(self.image.shape[0]), int(self.image.shape[1])

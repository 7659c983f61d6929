"""Write an annotated copy of what the pipeline saw: boxes, track ids, lines and zones.

One output frame per processed (decimated) frame, at the detect rate, so the video shows
exactly the frames the tracker and rules worked on. MPEG-4 Part 2 (`mp4v`) is used for .mp4
because OpenCV's pip wheels carry that encoder everywhere; H.264 depends on the build.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from agent.errors import OkoError
from agent.pipeline.live import annotated
from agent.pipeline.stage import CameraStage, FrameResult

_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class AnnotatedVideo:
    """Draws each processed frame of one camera and appends it to a video file."""

    def __init__(self, path: str | Path, fps: float, stage: CameraStage) -> None:
        self.path = Path(path)
        codec = _FOURCC.get(self.path.suffix.lower())
        if codec is None:
            raise OkoError(
                f"{self.path}: cannot write this kind of video; use one of "
                f"{', '.join(sorted(_FOURCC))}"
            )
        self.fps = fps
        self._fourcc = cv2.VideoWriter.fourcc(*codec)
        self._stage = stage
        self._writer: cv2.VideoWriter | None = None
        self.frames = 0

    def draw(self, result: FrameResult) -> np.ndarray:
        """The frame with tracks, every line (with counts) and every zone (occupancy)."""
        return annotated(result, self._stage)

    def write(self, result: FrameResult) -> None:
        """Append the drawn frame; the file opens at the first frame's size (`OkoError` if not)."""
        img = self.draw(result)
        if self._writer is None:
            h, w = img.shape[:2]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = cv2.VideoWriter(str(self.path), self._fourcc, self.fps, (w, h))
            if not self._writer.isOpened():
                raise OkoError(f"{self.path}: cannot open for writing video")
        self._writer.write(img)
        self.frames += 1

    def close(self) -> None:
        """Finish the file so players can read it; calling it again does nothing."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None

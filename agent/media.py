"""Read still images and video files frame by frame, for offline commands.

Live cameras go through `agent.capture` (reconnects, watchdog, decimation); this is the
plain path for files a person points a command at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from agent.errors import SourceError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def read_media(
    path: str | Path, every: int = 1, max_frames: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame index, BGR image): one for an image, every `every`-th frame of a video.

    Raises `SourceError` naming the file when it cannot be opened or decodes to nothing.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"{path}: not a readable image")
        yield 0, image
        return
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise SourceError(f"{path}: cannot open as video")
    try:
        index, emitted = 0, 0
        while max_frames is None or emitted < max_frames:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            if index % every == 0:
                yield index, frame
                emitted += 1
            index += 1
        if index == 0:
            raise SourceError(f"{path}: no decodable frames")
    finally:
        cap.release()


def video_info(path: str | Path) -> tuple[int, float]:
    """(frame count, fps) of a video file as the container reports them (0 if unknown)."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), float(cap.get(cv2.CAP_PROP_FPS) or 0)
    finally:
        cap.release()

"""Open a parsed video source through OpenCV.

Network streams and files go through OpenCV's FFmpeg backend with open/read timeouts, so a
dead camera fails an open or a read within a bounded time instead of hanging its reader.
USB cameras go through V4L2, since FFmpeg inside OpenCV cannot be told to use a capture device.
Parsing the configured string is `agent.config.source` (pure, no OpenCV).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import cv2

from agent.config.source import SourceKind, SourceSpec
from agent.errors import SourceError

log = logging.getLogger(__name__)

# FFmpeg demuxer options for every capture this process opens. RTSP over TCP survives lossy
# links without smeared frames; a 1 s analyze window opens a camera in about 1 s instead of 3.
FFMPEG_OPTIONS = "rtsp_transport;tcp|analyzeduration;1000000"
_ENV_KEY = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_ENV_LOCK = threading.Lock()


def _ensure_ffmpeg_options() -> None:
    """Set our FFmpeg options unless the operator set their own in the environment."""
    with _ENV_LOCK:
        os.environ.setdefault(_ENV_KEY, FFMPEG_OPTIONS)


def open_capture(
    spec: SourceSpec, open_timeout_s: float, read_timeout_s: float
) -> cv2.VideoCapture:
    """Open `spec`; a capture that is opened, or `SourceError` saying why not.

    Files are checked for existence first so a typo reads "no such file" rather than
    FFmpeg's generic failure.
    """
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        int(open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        int(read_timeout_s * 1000),
    ]
    if spec.kind is SourceKind.USB:
        assert spec.device is not None
        if not Path(f"/dev/video{spec.device}").exists():
            raise SourceError(f"{spec.label}: no such device /dev/video{spec.device}")
        cap = cv2.VideoCapture(spec.device, cv2.CAP_V4L2)
    else:
        if spec.kind is SourceKind.FILE:
            path = Path(spec.target)
            if not path.is_file():
                raise SourceError(f"{spec.label}: no such file")
        _ensure_ffmpeg_options()
        cap = cv2.VideoCapture(spec.target, cv2.CAP_FFMPEG, params)
    if not cap.isOpened():
        cap.release()
        what = (
            "not a readable video" if spec.kind is SourceKind.FILE else "cannot connect or no video"
        )
        raise SourceError(f"{spec.label}: {what}")
    log.debug("opened %s with %s", spec.label, cap.getBackendName())
    return cap


def probe_shape(spec: SourceSpec, open_timeout_s: float, read_timeout_s: float) -> tuple[int, int]:
    """(height, width) of `spec`'s video, opening it once; `SourceError` if it cannot tell.

    A camera with a detect substream needs its main stream's size to put events in
    main-stream pixels, and nothing else from it. The size comes from the demuxer's
    stream header where it has one, else from one decoded frame.
    """
    cap = open_capture(spec, open_timeout_s, read_timeout_s)
    try:
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        if width <= 0 or height <= 0:
            ok, image = cap.read()
            if not ok or image is None or image.ndim < 2:
                raise SourceError(f"{spec.label}: no frame to take the size from")
            height, width = int(image.shape[0]), int(image.shape[1])
    finally:
        cap.release()
    log.info("%s is %dx%d", spec.label, width, height)
    return height, width

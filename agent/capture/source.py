"""Video sources: parse what a camera's config says, open it through OpenCV.

Network streams and files go through OpenCV's FFmpeg backend with open/read timeouts, so a
dead camera fails an open or a read within a bounded time instead of hanging its reader.
USB cameras go through V4L2, since FFmpeg inside OpenCV cannot be told to use a capture device.
Credentials in URLs are redacted in everything we print, because health reports and logs
travel to the fleet and operators.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import cv2

from agent.errors import SourceError

log = logging.getLogger(__name__)

# FFmpeg demuxer options for every capture this process opens. RTSP over TCP survives lossy
# links without smeared frames; a 1 s analyze window opens a camera in about 1 s instead of 3.
FFMPEG_OPTIONS = "rtsp_transport;tcp|analyzeduration;1000000"
_ENV_KEY = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_ENV_LOCK = threading.Lock()

_USB = re.compile(r"^usb:(\d{1,3})$")
_NETWORK_SCHEMES = {"rtsp": "rtsp", "rtsps": "rtsp", "http": "http", "https": "http"}


class SourceKind(StrEnum):
    """What a source string names; decides retry policy and pacing."""

    RTSP = "rtsp"
    HTTP = "http"
    FILE = "file"
    USB = "usb"


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source.

    Attributes:
        kind: what sort of source it is; decides retry policy and pacing.
        target: what OpenCV opens: a URL, a file path, or "" for USB.
        device: the V4L2 device index for USB sources, else None.
        label: the source with any password replaced by ***, safe to log and report.
    """

    kind: SourceKind
    target: str
    device: int | None
    label: str

    @property
    def is_live(self) -> bool:
        """Live sources produce frames in real time and are retried when they fail."""
        return self.kind is not SourceKind.FILE


def redact(url: str) -> str:
    """`url` with its password (if any) replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def parse_source(text: str) -> SourceSpec:
    """Parse a configured source: rtsp(s)://, http(s)://, file://, a path, or `usb:N`.

    Pure string work (no I/O), so config validation can call it. Raises `SourceError`
    naming the problem.
    """
    text = text.strip()
    if not text:
        raise SourceError("source is empty")
    usb = _USB.match(text)
    if usb:
        return SourceSpec(SourceKind.USB, "", int(usb.group(1)), text)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in _NETWORK_SCHEMES:
        if not parts.hostname:
            raise SourceError(f"source {redact(text)!r}: URL has no host")
        return SourceSpec(SourceKind(_NETWORK_SCHEMES[scheme]), text, None, redact(text))
    if scheme == "file":
        if not parts.path:
            raise SourceError(f"source {text!r}: file URL has no path")
        return SourceSpec(SourceKind.FILE, parts.path, None, parts.path)
    # A one-letter "scheme" is a Windows drive, anything else with :// is a protocol we lack.
    if "://" in text:
        raise SourceError(
            f"source {redact(text)!r}: unsupported scheme {scheme!r} "
            "(use rtsp://, rtsps://, http://, https://, file://, a path or usb:N)"
        )
    return SourceSpec(SourceKind.FILE, text, None, text)


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

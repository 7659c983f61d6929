"""Structural check of a JPEG a box sends for a live view: pure, no image library.

The fleet never decodes live frames (it must not load OpenCV, and decoding is the
browser's job), but it does not pass on bytes it has not looked at either: the frame must
start like a JPEG, have a frame header (SOF) before its scan whose size matches what the
box declared and is within bounds, and end with the end-of-image marker. Anything else is
refused with the reason, before an operator's browser sees it.
"""

from __future__ import annotations

from dataclasses import dataclass

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
_SOS = 0xDA
# Start-of-frame markers carry the image size (every coding process except DHT/JPG/DAC).
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# Markers without a length field.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_MAX_SEGMENTS = 64


class JpegError(ValueError):
    """The bytes are not a JPEG the console will show; the message says why."""


@dataclass(frozen=True)
class JpegInfo:
    """What the frame header says."""

    width: int
    height: int


def _segments(data: bytes) -> JpegInfo:
    """Walk the marker segments up to the scan; the SOF's size."""
    pos, info = 2, None
    for _ in range(_MAX_SEGMENTS):
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise JpegError(f"no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2 or pos + 2 + length > len(data):
            raise JpegError(f"segment 0x{marker:02x} at byte {pos} runs past the end")
        if marker in _SOF:
            if length < 8:
                raise JpegError("frame header too short")
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            width = int.from_bytes(data[pos + 7 : pos + 9], "big")
            info = JpegInfo(width, height)
        if marker == _SOS:
            if info is None:
                raise JpegError("scan before any frame header")
            return info
        pos += 2 + length
    raise JpegError(f"more than {_MAX_SEGMENTS} segments before the scan")


def check_jpeg(data: bytes, max_width: int, max_height: int) -> JpegInfo:
    """The frame's size if `data` is a well-formed JPEG within bounds; `JpegError` if not."""
    if not data.startswith(SOI):
        raise JpegError("does not start with a JPEG start-of-image marker")
    if not data.endswith(EOI):
        raise JpegError("does not end with a JPEG end-of-image marker")
    info = _segments(data)
    if not (0 < info.width <= max_width and 0 < info.height <= max_height):
        raise JpegError(
            f"{info.width}x{info.height} is outside 1x1..{max_width}x{max_height} pixels"
        )
    return info

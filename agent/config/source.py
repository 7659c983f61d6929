"""Video source strings: what a camera's `source:` says, parsed without opening anything.

Pure string work (no OpenCV, no I/O, no environment), so config validation on the box and
on the fleet can call it. Credentials in URLs are redacted in every label, because health
reports and logs travel to the fleet and operators. Opening a parsed source is
`agent.capture.source`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

from agent.errors import SourceError

_USB = re.compile(r"^usb:(\d{1,3})$")
_NETWORK_SCHEMES = {"rtsp": "rtsp", "rtsps": "rtsp", "http": "http", "https": "http"}


class SourceKind(StrEnum):
    """Where frames come from; the reader picks retry policy and pacing by it."""

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

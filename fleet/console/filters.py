"""Query parameters of the console's pages, validated: bad ones are refused, naming the field.

Ids follow the boxes' own id pattern (`fleet.limits.ID_RE`), so a camera id with markup in
it is refused before anything looks it up; the refusal quotes it, and the page shows the
quote escaped.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from fleet.config import EVENT_TYPES
from fleet.console.guard import RefusedError
from fleet.limits import ID_RE
from fleet.store.records import EventFilter

MAX_SITE_CHARS = 128


def id_param(value: str, field: str) -> str:
    """`value` if empty or an id; a 400 naming `field` otherwise."""
    if value and not ID_RE.match(value):
        raise RefusedError(
            400,
            f"{field} {value[:80]!r} is not an id (letters, digits, '_', '.', '-'; "
            "at most 64 characters)",
        )
    return value


def site_param(value: str) -> str:
    """A site name as operators typed it at enrollment (any printable text, bounded)."""
    if len(value) > MAX_SITE_CHARS or not value.isprintable():
        raise RefusedError(400, f"site must be at most {MAX_SITE_CHARS} printable characters")
    return value


def int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter within [lo, hi]."""
    raw = request.query_params.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RefusedError(400, f"{name} must be a whole number, got {raw[:40]!r}") from None
    if not lo <= value <= hi:
        raise RefusedError(400, f"{name} must be {lo}..{hi}, got {value}")
    return value


@dataclass(frozen=True)
class EventParams:
    """Which events a page shows: by site, device, camera and type."""

    site: str = ""
    device: str = ""
    camera: str = ""
    type: str = ""

    @classmethod
    def of(cls, request: Request) -> EventParams:
        """From the query string; every value validated."""
        q = request.query_params
        kind = q.get("type", "")
        if kind and kind not in EVENT_TYPES:
            raise RefusedError(
                400, f"type {kind[:40]!r} is not one of {', '.join(sorted(EVENT_TYPES))}"
            )
        return cls(
            site=site_param(q.get("site", "")),
            device=id_param(q.get("device", ""), "device id"),
            camera=id_param(q.get("camera", ""), "camera id"),
            type=kind,
        )

    def filter(self) -> EventFilter:
        """The store's filter for these parameters."""
        return EventFilter.of(
            camera_ids=[self.camera] if self.camera else [],
            sites=[self.site] if self.site else [],
            types=[self.type] if self.type else [],
            device_ids=[self.device] if self.device else [],
        )

    def query(self) -> dict[str, str]:
        """The parameters that are set, for links and the stream's URL."""
        return {k: v for k, v in vars(self).items() if v}

"""The console's HTML: Jinja2 templates shipped in the package, escaping everything.

Autoescaping is on for every template, so any text that came from a box, a token name
or a URL is shown as text, never as markup. The pages carry no inline script or style:
the Content-Security-Policy below forbids both, so even a value that slipped through
escaping could not run.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    # same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on our own
    # form posts, and the origin check (fleet.console.guard) needs the real one.
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "strict-transport-security": "max-age=31536000",
    "cache-control": "no-store",
}


def when(us: int) -> str:
    """A stored time (µs since the epoch) as UTC text; '-' for unset."""
    if not us:
        return "-"
    try:
        return dt.datetime.fromtimestamp(us / 1e6, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "invalid time"


def ago(us: int) -> str:
    """How long ago a stored time was, roughly ('-' for unset)."""
    if not us:
        return "-"
    seconds = time.time() - us / 1e6
    if seconds < 0:
        return "in the future"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def environment() -> Environment:
    """The template environment: autoescape on, undefined names are errors."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["ago"] = ago
    return env


class Pages:
    """Renders templates into responses with the console's security headers."""

    def __init__(self) -> None:
        self.env = environment()

    def html(self, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        """A whole page (or fragment) rendered from `name`."""
        return HTMLResponse(
            self.text(name, **context), status_code=status, headers=SECURITY_HEADERS
        )

    def text(self, name: str, **context: Any) -> str:
        """The rendered text of a template (rows sent over server-sent events)."""
        return self.env.get_template(name).render(**context)

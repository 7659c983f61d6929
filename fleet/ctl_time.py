"""Times as okoctl reads them from the command line and shows them to people.

Options like `--since` take either a moment ago (`15m`, `2h`, `7d`) or an RFC 3339 / ISO
8601 time (`2026-05-01T12:00:00Z`, `2026-05-01 14:00+02:00`, `2026-05-01`); a time without
an offset is local time. Tables show local times (`2026-05-01 14:00:03`); `-o json/yaml`
always carry RFC 3339 in UTC.
"""

from __future__ import annotations

import datetime as dt
import time

from google.protobuf.timestamp_pb2 import Timestamp

from fleet.client import parse_duration
from fleet.ctl_data import MAX_TS, MIN_TS


def parse_moment(
    text: str, option: str = "--since", *, now: float | None = None
) -> Timestamp | None:
    """`15m` (ago), an RFC 3339 time, or '' (no bound: None); ValueError names `option`."""
    if not text:
        return None
    stamp = Timestamp()
    try:
        seconds = parse_duration(text)
    except ValueError:
        pass
    else:
        stamp.FromNanoseconds(int(((time.time() if now is None else now) - seconds) * 1e9))
        return stamp
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError as err:
        raise ValueError(
            f"{option} {text!r}: give a time ago (15m, 2h, 7d) or an RFC 3339 time "
            "(2026-05-01T12:00:00Z)"
        ) from err
    stamp.FromDatetime(moment if moment.tzinfo else moment.astimezone())
    return stamp


def when(stamp: Timestamp) -> str:
    """Readable local time; empty for an unset timestamp; raw seconds for one out of range."""
    if not stamp.seconds and not stamp.nanos:
        return ""
    if not MIN_TS <= stamp.seconds <= MAX_TS:
        return f"@{stamp.seconds} (out of range)"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp.seconds))


def clock(seconds: int) -> str:
    """HH:MM:SS (UTC) of an event time, or the raw seconds if out of range."""
    if not MIN_TS <= seconds <= MAX_TS:
        return f"@{seconds}"
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def ago(stamp: Timestamp) -> str:
    """How long ago, coarsest unit first ("3h ago"); "never" for an unset timestamp."""
    if not stamp.seconds:
        return "never"
    seconds = max(0, int(time.time()) - stamp.seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"

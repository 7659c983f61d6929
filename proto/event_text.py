"""Events as an operator reads them: one short sentence per event.

Shared by the demo's live view (`agent/demo/view.py`) and okoctl (`events tail`,
`events query`), so a box and the fleet's admin describe an event in the same words:
"car crossed 'north-gate' northbound", "person loitering 'platform-2' (now 3)".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proto.oko.v1 import events_pb2, watchlists_pb2


def _line(b: events_pb2.LineCrossing) -> str:
    name = b.direction_name or events_pb2.LineCrossing.Direction.Name(b.direction)
    return f"{b.label} crossed '{b.line_id}' {name}"


def _zone(b: events_pb2.ZoneEvent) -> str:
    what = events_pb2.ZoneEvent.Kind.Name(b.kind).removeprefix("KIND_").lower()
    return f"{b.label} {what} '{b.zone_id}' (now {b.occupancy})"


def _traffic(b: events_pb2.TrafficFlow) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(b.counts.items())) or "no vehicles"
    return f"'{b.line_id}' {b.interval_seconds:.0f}s: {counts}"


def _abandoned(b: events_pb2.AbandonedObject) -> str:
    state = events_pb2.AbandonedObject.State.Name(b.state).removeprefix("STATE_").lower()
    return f"{b.label} {state} (owner track {b.owner_track_id})"


def _alert(b: watchlists_pb2.WatchlistAlert) -> str:
    state = watchlists_pb2.WatchlistAlert.State.Name(b.state).removeprefix("STATE_").lower()
    return f"{state} match of {b.subject_name!r} on {b.watchlist!r}, score {b.score:.2f}"


_DESCRIBE: dict[str, Callable[[Any], str]] = {
    "line_crossing": _line,
    "zone": _zone,
    "traffic_flow": _traffic,
    "abandoned_object": _abandoned,
    "face": lambda b: f"face {b.dimensions}-d, quality {b.quality:.2f}",
    "wrong_way": lambda b: f"{b.label} wrong way on '{b.line_id}'",
    "watchlist_alert": _alert,
}


def describe(event: events_pb2.Event) -> tuple[str, str]:
    """(kind, one-line detail) of an event, as an operator would read it."""
    kind = event.WhichOneof("body")
    if kind is None:
        return "?", ""
    render = _DESCRIBE.get(kind)
    return kind, render(getattr(event, kind)) if render else ""

"""One readable sentence per event, for the console's live event list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proto.oko.v1 import events_pb2
from proto.oko.v1 import watchlists_pb2 as wl


def _line(b: events_pb2.LineCrossing) -> str:
    name = b.direction_name or events_pb2.LineCrossing.Direction.Name(b.direction)
    return f"{b.label or 'object'} crossed line {b.line_id} ({name.removeprefix('DIRECTION_')})"


def _zone(b: events_pb2.ZoneEvent) -> str:
    what = events_pb2.ZoneEvent.Kind.Name(b.kind).removeprefix("KIND_").lower()
    return f"{b.label or 'object'} {what} zone {b.zone_id} (now {b.occupancy} inside)"


def _traffic(b: events_pb2.TrafficFlow) -> str:
    counts = ", ".join(f"{v} {k}" for k, v in sorted(b.counts.items())) or "no vehicles"
    speed = f", {b.mean_speed_kmh:.0f} km/h" if b.speed_samples else ""
    return f"line {b.line_id}, {b.interval_seconds:.0f} s: {counts}{speed}"


def _abandoned(b: events_pb2.AbandonedObject) -> str:
    state = events_pb2.AbandonedObject.State.Name(b.state).removeprefix("STATE_").lower()
    return f"{b.label} left unattended: {state} after {b.unattended_seconds:.0f} s"


def _alert(b: wl.WatchlistAlert) -> str:
    state = wl.WatchlistAlert.State.Name(b.state).removeprefix("STATE_").lower()
    return f"watchlist {b.watchlist}: {b.subject_name} (score {b.score:.2f}), {state}"


_DESCRIBE: dict[str, Callable[[Any], str]] = {
    "line_crossing": _line,
    "zone": _zone,
    "traffic_flow": _traffic,
    "abandoned_object": _abandoned,
    "face": lambda b: f"face seen (quality {b.quality:.2f})",
    "wrong_way": lambda b: f"{b.label} went the wrong way on line {b.line_id}",
    "watchlist_alert": _alert,
}


def describe(event: events_pb2.Event) -> str:
    """What happened, as an operator reads it (ids as the box sent them; escape to show)."""
    kind = event.WhichOneof("body")
    if kind is None:
        return "event without a body"
    render = _DESCRIBE.get(kind)
    return render(getattr(event, kind)) if render else kind.replace("_", " ")

"""What the demo shows while the clip plays: progress, the OCC's live feed, delivery."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from proto.oko.v1 import events_pb2, stream_pb2


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


_DESCRIBE: dict[str, Callable[[Any], str]] = {
    "line_crossing": _line,
    "zone": _zone,
    "traffic_flow": _traffic,
    "abandoned_object": _abandoned,
    "face": lambda b: f"face {b.dimensions}-d, quality {b.quality:.2f}",
    "wrong_way": lambda b: f"{b.label} wrong way on '{b.line_id}'",
}


def describe(event: events_pb2.Event) -> tuple[str, str]:
    """(kind, one-line detail) of an event, as an operator would read it."""
    kind = event.WhichOneof("body")
    if kind is None:
        return "?", ""
    render = _DESCRIBE.get(kind)
    return kind, render(getattr(event, kind)) if render else ""


@dataclass
class DemoView:
    """Live state of the demo; `render()` is called by rich's Live a few times a second."""

    total_frames: int
    frames: int = 0
    minted: int = 0
    delivered: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    recent: deque[tuple[str, ...]] = field(default_factory=lambda: deque(maxlen=8))
    latencies_ms: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def on_envelope(self, envelope: stream_pb2.EventEnvelope) -> None:
        """Count an event the OCC received and its latency from the fleet's receive time."""
        event = envelope.event
        kind, detail = describe(event)
        self.delivered += 1
        self.kinds[kind] += 1
        received = envelope.received_at.ToNanoseconds() / 1e9
        self.latencies_ms.append(max(0.0, time.time() - received) * 1000)
        self.recent.append(
            (
                str(envelope.cursor),
                event.camera_id,
                f"#{event.sequence}",
                str(event.track_id),
                kind,
                detail,
            )
        )

    def render(self) -> RenderableType:
        """Progress, totals and the latest events, for rich's Live to draw."""
        done = self.frames / self.total_frames if self.total_frames else 0.0
        bar = "█" * int(30 * done) + "░" * (30 - int(30 * done))
        elapsed = time.monotonic() - self.started
        head = Text.assemble(
            ("camera vtest ", "bold"),
            f"{bar} {self.frames}/{self.total_frames} frames  ",
            (f"{self.minted} events minted, {self.delivered} at the OCC", "cyan"),
            f"  {elapsed:.0f}s",
        )
        table = Table(
            title="live event stream (OCC subscriber)", title_justify="left", min_width=90
        )
        for col in ("cursor", "camera", "seq", "track", "type", "what"):
            table.add_column(col)
        for row in self.recent:
            table.add_row(*row)
        return Group(head, table)

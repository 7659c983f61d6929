"""What the demo shows while the clip plays: progress, the OCC's live feed, delivery."""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from proto.event_text import describe
from proto.oko.v1 import stream_pb2


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

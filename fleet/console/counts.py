"""Counts and traffic over time from stored events: pure aggregation for the counts page.

Three kinds of series, each keyed by (camera, rule id):
* lines: line crossings per interval, in and out (from `line_crossing` events);
* traffic: the box's own traffic intervals (`traffic_flow`): in/out, mean speed, density
  and congestion, each at its interval start;
* zones: occupancy after every zone event (summed over labels) and entries per interval.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from fleet.store.records import StoredEvent
from proto.oko.v1 import events_pb2

COUNT_TYPES = frozenset({"line_crossing", "traffic_flow", "zone"})
_IN = events_pb2.LineCrossing.DIRECTION_IN
_OUT = events_pb2.LineCrossing.DIRECTION_OUT
_ENTER = events_pb2.ZoneEvent.KIND_ENTER


@dataclass(frozen=True)
class Window:
    """[start_us, end_us) cut into intervals of `step_us`."""

    start_us: int
    end_us: int
    step_us: int

    @property
    def buckets(self) -> int:
        """How many intervals the window has (the last may be partial)."""
        return max(1, -(-(self.end_us - self.start_us) // self.step_us))

    def bucket(self, at_us: int) -> int | None:
        """The interval index of a time, None outside the window."""
        if not self.start_us <= at_us < self.end_us:
            return None
        return (at_us - self.start_us) // self.step_us

    def starts(self) -> list[int]:
        """Start time of each interval."""
        return [self.start_us + i * self.step_us for i in range(self.buckets)]


@dataclass
class LineSeries:
    """Crossings of one line per interval."""

    camera_id: str
    line_id: str
    count_in: list[int]
    count_out: list[int]
    labels: dict[str, int] = field(default_factory=dict)  # crossings per class, whole window


@dataclass
class TrafficPoint:
    """One traffic interval the box reported."""

    at_us: int
    count_in: int
    count_out: int
    speed_kmh: float
    density_per_km: float
    congestion: int  # 0 unknown, 1 free .. 4 jam


@dataclass
class TrafficSeries:
    """The traffic intervals of one line, in time order."""

    camera_id: str
    line_id: str
    points: list[TrafficPoint] = field(default_factory=list)


@dataclass
class ZoneSeries:
    """One zone: occupancy steps and entries per interval."""

    camera_id: str
    zone_id: str
    enters: list[int]
    occupancy: list[tuple[int, int]] = field(default_factory=list)  # (at_us, objects)
    _by_label: dict[str, int] = field(default_factory=dict)

    def observe(self, at_us: int, label: str, occupancy: int) -> None:
        """Occupancy of `label` after an event; the series keeps the total over labels."""
        self._by_label[label] = occupancy
        self.occupancy.append((at_us, sum(self._by_label.values())))


@dataclass
class Counts:
    """Everything the counts page draws, plus how many events it read."""

    window: Window
    lines: dict[tuple[str, str], LineSeries] = field(default_factory=dict)
    traffic: dict[tuple[str, str], TrafficSeries] = field(default_factory=dict)
    zones: dict[tuple[str, str], ZoneSeries] = field(default_factory=dict)
    events: int = 0
    unreadable: int = 0
    truncated: bool = False

    def add(self, stored: StoredEvent) -> None:
        """Fold one stored event in (events of other types are ignored)."""
        if stored.type not in COUNT_TYPES:
            return
        event = events_pb2.Event()
        try:
            event.ParseFromString(stored.payload)
        except Exception:  # stored bytes we cannot read: count them, draw the rest
            self.unreadable += 1
            return
        self.events += 1
        if stored.type == "line_crossing":
            self._line(stored, event.line_crossing)
        elif stored.type == "traffic_flow":
            self._traffic(stored, event.traffic_flow)
        else:
            self._zone(stored, event.zone)

    def add_all(self, page: Iterable[StoredEvent]) -> None:
        """Fold a page of stored events in (run off the event loop for big windows)."""
        for stored in page:
            self.add(stored)

    def _line(self, stored: StoredEvent, body: events_pb2.LineCrossing) -> None:
        index = self.window.bucket(stored.capture_us)
        if index is None:
            return
        key = (stored.camera_id, body.line_id)
        n = self.window.buckets
        series = self.lines.setdefault(key, LineSeries(key[0], key[1], [0] * n, [0] * n))
        if body.direction == _IN:
            series.count_in[index] += 1
        elif body.direction == _OUT:
            series.count_out[index] += 1
        label = body.label or "?"
        series.labels[label] = series.labels.get(label, 0) + 1

    def _traffic(self, stored: StoredEvent, body: events_pb2.TrafficFlow) -> None:
        key = (stored.camera_id, body.line_id)
        series = self.traffic.setdefault(key, TrafficSeries(key[0], key[1]))
        start = body.interval_start
        at = start.seconds * 1_000_000 + start.nanos // 1000 if start.seconds else stored.capture_us
        series.points.append(
            TrafficPoint(
                at,
                body.count_in,
                body.count_out,
                body.mean_speed_kmh,
                body.density_per_km,
                int(body.congestion),
            )
        )

    def _zone(self, stored: StoredEvent, body: events_pb2.ZoneEvent) -> None:
        key = (stored.camera_id, body.zone_id)
        series = self.zones.setdefault(key, ZoneSeries(key[0], key[1], [0] * self.window.buckets))
        series.observe(stored.capture_us, body.label or "?", body.occupancy)
        index = self.window.bucket(stored.capture_us)
        if index is not None and body.kind == _ENTER:
            series.enters[index] += 1

    def finish(self) -> Counts:
        """Sort what arrived out of order (events come in cursor, not capture, order)."""
        for traffic in self.traffic.values():
            traffic.points.sort(key=lambda p: p.at_us)
        for zone in self.zones.values():
            zone.occupancy.sort(key=lambda p: p[0])
        return self


def aggregate(window: Window, events: Iterable[StoredEvent]) -> Counts:
    """Counts of `events` (any order) over `window`."""
    counts = Counts(window)
    counts.add_all(events)
    return counts.finish()

"""What a run of the pipeline found, in a few tables: lines, zones, traffic, alerts.

Built only from the analytics events (pure, no I/O), so the summary of an offline analysis
says exactly what its JSON Lines file says. Lines and zones configured but never triggered
still appear, with zeros, because "nobody crossed" is a finding too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rich.table import Table

from agent.config.analytics import CameraAnalyticsConfig
from agent.events.types import (
    Abandoned,
    AbandonedCleared,
    AnalyticsEvent,
    Congestion,
    EventKind,
    LineCrossed,
    Loitering,
    TrafficInterval,
    WrongWay,
    ZoneEnter,
    ZoneExit,
    ZoneVisit,
)

ALERT_KINDS = (
    EventKind.ABANDONED,
    EventKind.ABANDONED_CLEARED,
    EventKind.WRONG_WAY,
    EventKind.LOITERING,
)
CONGESTION_ORDER: tuple[Congestion, ...] = ("free", "moderate", "heavy", "jam")


@dataclass
class ZoneStats:
    """One zone's visits over the run; `dwell` holds completed visits only."""

    entries: int = 0
    exits: int = 0
    loitering: int = 0
    max_occupancy: int = 0
    dwell: list[float] = field(default_factory=list)  # of completed visits


@dataclass
class TrafficStats:
    """One traffic line's closed intervals, summed; `worst`: its heaviest congestion level."""

    intervals: int = 0
    vehicles: int = 0
    count_in: int = 0
    count_out: int = 0
    speed_sum: float = 0.0  # mean speed x samples, summed over intervals
    speed_samples: int = 0
    wrong_way: int = 0
    speeding: int = 0
    worst: Congestion = "free"


@dataclass(frozen=True)
class Alert:
    """An alert-kind event (`ALERT_KINDS`) as the summary lists it; `detail` is for people."""

    capture_time: float
    kind: str
    rule_id: str
    label: str
    track_id: int
    detail: str


class Summary:
    """Aggregates analytics events of one camera."""

    def __init__(self, config: CameraAnalyticsConfig) -> None:
        self.lines: dict[str, dict[str, dict[str, int]]] = {c.id: {} for c in config.lines}
        self.direction_names = {c.id: (c.in_name, c.out_name) for c in config.lines}
        self.zones = {c.id: ZoneStats() for c in config.zones}
        self.traffic = {c.line_id: TrafficStats() for c in config.traffic}
        self.alerts: list[Alert] = []
        self.frames = 0
        self.first_time: float | None = None
        self.last_time: float | None = None

    def add_frame(self, capture_time: float) -> None:
        """Count a processed frame; the first and last capture times span the run."""
        self.frames += 1
        self.first_time = capture_time if self.first_time is None else self.first_time
        self.last_time = capture_time

    def add(self, events: Iterable[AnalyticsEvent]) -> None:
        """Fold events into the line, zone and traffic totals, and list the alerts."""
        for e in events:
            match e.detail:
                case LineCrossed(direction=direction):
                    per = self.lines.setdefault(e.rule_id, {})
                    per.setdefault(e.label, {"in": 0, "out": 0})[direction] += 1
                case ZoneVisit() as visit:
                    self._zone(e.rule_id, visit)
                case TrafficInterval() as flow:
                    self._traffic(e.rule_id, flow)
            if e.kind in ALERT_KINDS:
                self.alerts.append(
                    Alert(
                        e.capture_time,
                        e.kind.value,
                        e.rule_id,
                        e.label,
                        e.track_id,
                        _alert_detail(e),
                    )
                )

    def _zone(self, zone_id: str, visit: ZoneVisit) -> None:
        z = self.zones.setdefault(zone_id, ZoneStats())
        z.max_occupancy = max(z.max_occupancy, int(visit.occupancy))
        match visit:
            case ZoneEnter():
                z.entries += 1
            case ZoneExit():
                z.exits += 1
                z.dwell.append(float(visit.dwell_seconds))
            case Loitering():
                z.loitering += 1

    def _traffic(self, line_id: str, p: TrafficInterval) -> None:
        t = self.traffic.setdefault(line_id, TrafficStats())
        t.intervals += 1
        t.vehicles += sum(int(v) for v in p.counts.values())
        t.count_in += int(p.count_in)
        t.count_out += int(p.count_out)
        t.speed_sum += float(p.mean_speed_kmh) * int(p.speed_samples)
        t.speed_samples += int(p.speed_samples)
        t.wrong_way += int(p.wrong_way)
        t.speeding += int(p.speeding)
        if CONGESTION_ORDER.index(p.congestion) > CONGESTION_ORDER.index(t.worst):
            t.worst = p.congestion

    def line_totals(self, line_id: str) -> dict[str, int]:
        """{"in": n, "out": n} over all classes of one line."""
        per = self.lines.get(line_id, {})
        return {d: sum(c[d] for c in per.values()) for d in ("in", "out")}


def _alert_detail(e: AnalyticsEvent) -> str:
    match e.detail:
        case Abandoned() as p:
            return (
                f"stationary {p.stationary_seconds:.0f} s, unattended "
                f"{p.unattended_seconds:.0f} s, owner track {p.owner_track_id}"
            )
        case AbandonedCleared(alerted_seconds=alerted):
            return f"cleared after {alerted:.0f} s"
        case WrongWay(direction=direction, speed_kmh=speed):
            return f"direction {direction}" + ("" if speed is None else f", {speed:.0f} km/h")
        case ZoneVisit(dwell_seconds=dwell):
            return f"dwell {dwell:.0f} s"
        case _:
            return ""


def _table(title: str, columns: Sequence[str]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i < 2 else "right")
    return table


def _line_table(summary: Summary) -> Table:
    t = _table("Line crossings", ["line", "class", "in", "out"])
    for line_id, per in summary.lines.items():
        in_name, out_name = summary.direction_names.get(line_id, ("in", "out"))
        if not per:
            t.add_row(line_id, "-", "0", "0")
        for label, c in sorted(per.items()):
            t.add_row(line_id, label, f"{c['in']} ({in_name})", f"{c['out']} ({out_name})")
    return t


def _zone_table(summary: Summary) -> Table:
    t = _table(
        "Zones",
        ["zone", "entries", "exits", "max occupancy", "mean dwell s", "max dwell s", "loitering"],
    )
    for zone_id, z in summary.zones.items():
        mean = sum(z.dwell) / len(z.dwell) if z.dwell else 0.0
        t.add_row(
            zone_id,
            str(z.entries),
            str(z.exits),
            str(z.max_occupancy),
            f"{mean:.1f}",
            f"{max(z.dwell, default=0.0):.1f}",
            str(z.loitering),
        )
    return t


def _traffic_table(summary: Summary) -> Table:
    t = _table(
        "Traffic",
        [
            "line",
            "intervals",
            "vehicles",
            "in",
            "out",
            "mean km/h",
            "wrong way",
            "speeding",
            "worst congestion",
        ],
    )
    for line_id, s in summary.traffic.items():
        speed = f"{s.speed_sum / s.speed_samples:.1f}" if s.speed_samples else "-"
        t.add_row(
            line_id,
            str(s.intervals),
            str(s.vehicles),
            str(s.count_in),
            str(s.count_out),
            speed,
            str(s.wrong_way),
            str(s.speeding),
            s.worst,
        )
    return t


def _alert_table(summary: Summary) -> Table:
    t = _table("Alerts", ["time s", "kind", "rule", "label", "track", "detail"])
    start = summary.first_time or 0.0
    for a in summary.alerts:
        t.add_row(
            f"{a.capture_time - start:.1f}",
            a.kind,
            a.rule_id or "-",
            a.label,
            str(a.track_id),
            a.detail,
        )
    if not summary.alerts:
        t.add_row("-", "none", "", "", "", "")
    return t


def tables(summary: Summary) -> list[Table]:
    """Rich tables for the terminal: lines, zones, traffic (those configured), alerts."""
    out = [_line_table(summary)] if summary.lines else []
    if summary.zones:
        out.append(_zone_table(summary))
    if summary.traffic:
        out.append(_traffic_table(summary))
    return [*out, _alert_table(summary)]

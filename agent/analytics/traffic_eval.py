"""Scoring the traffic rule against vehicles whose motion is known.

The truth is a clip document of scripts/make_traffic_clip.py: every vehicle's lane,
direction, ground speed and the time its reference point crossed the line, and how many
vehicles were inside the calibrated region in every frame. The rule's output is its
`Passage` records (one per counted vehicle) and its closed intervals. Shared by
bench/traffic.py (prints the figures) and the pipeline tests (assert tolerances), so both
score the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from agent.analytics.traffic import CONGESTION, Passage

# A passage may be a true vehicle's crossing if it is within 1 s of it, or within the time
# that vehicle takes to drive MATCH_METRES (slow vehicles: a box side of bottom-centre noise).
MATCH_SECONDS = 1.0
MATCH_METRES = 2.5


@dataclass(frozen=True)
class TrueVehicle:
    """One vehicle of a clip's truth document, as the scorer compares it with a `Passage`."""

    id: int
    label: str
    lane: int
    direction: str
    speed_kmh: float
    crossing_time: float  # seconds from the clip's first frame
    stops: bool  # stands on the line: no single true speed at the crossing


@dataclass(frozen=True)
class Interval:
    """One closed interval as the rule reported it (from the wire event)."""

    start: float  # capture clock
    seconds: float
    count: int
    density_per_km_lane: float
    congestion: str


@dataclass(frozen=True)
class SpeedError:
    """A matched vehicle's measured speed against its true ground speed."""

    truth: TrueVehicle
    measured_kmh: float

    @property
    def kmh(self) -> float:
        """Signed error, measured minus true: > 0 means the rule reads too fast."""
        return self.measured_kmh - self.truth.speed_kmh

    @property
    def pct(self) -> float:
        """`kmh` as a percentage of the true speed."""
        return 100.0 * self.kmh / self.truth.speed_kmh


@dataclass(frozen=True)
class Score:
    """One-to-one pairing of true vehicles with counted passages, and what is left over."""

    pairs: tuple[tuple[TrueVehicle, Passage], ...]
    missed: tuple[TrueVehicle, ...]
    extra: tuple[Passage, ...]

    @property
    def wrong_direction(self) -> tuple[TrueVehicle, ...]:
        """Matched vehicles the rule counted in the opposite direction."""
        return tuple(t for t, p in self.pairs if p.direction != t.direction)

    @property
    def wrong_lane(self) -> tuple[TrueVehicle, ...]:
        """Matched vehicles the rule put in another lane."""
        return tuple(t for t, p in self.pairs if p.lane != t.lane)

    @property
    def speeds(self) -> tuple[SpeedError, ...]:
        """Speed errors of matched constant-speed vehicles that got a speed sample."""
        return tuple(
            SpeedError(t, p.speed_kmh)
            for t, p in self.pairs
            if p.speed_kmh is not None and not t.stops
        )


def true_vehicles(doc: Mapping[str, Any]) -> list[TrueVehicle]:
    """The vehicles of a truth document (scripts/make_traffic_clip.py's JSON)."""
    return [
        TrueVehicle(
            v["id"],
            v["detector_label"],
            v["lane"],
            v["direction"],
            v["speed_kmh"],
            v["crossing_time_s"],
            v["stops_on_line_s"] > 0,
        )
        for v in doc["vehicles"]
    ]


def match(truth: Sequence[TrueVehicle], passages: Sequence[Passage], t0: float) -> Score:
    """Pair passages with true vehicles one-to-one by crossing time (within 1 s).

    `t0`: capture time of the clip's first frame. Direction and lane are not used to
    pair, so a vehicle counted the wrong way or in the wrong lane shows up as such
    instead of as one miss plus one extra.
    """
    cost = np.full((len(truth), len(passages)), 1e6)
    for i, t in enumerate(truth):
        for j, p in enumerate(passages):
            dt = abs(p.time - t0 - t.crossing_time)
            if dt <= max(MATCH_SECONDS, MATCH_METRES / (t.speed_kmh / 3.6)):
                cost[i, j] = dt
    pairs: list[tuple[TrueVehicle, Passage]] = []
    if cost.size:
        rows, cols = linear_sum_assignment(cost)
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            if cost[i, j] < 1e6:
                pairs.append((truth[i], passages[j]))
    got_t = {t.id for t, _ in pairs}
    got_p = {id(p) for _, p in pairs}
    return Score(
        tuple(pairs),
        tuple(t for t in truth if t.id not in got_t),
        tuple(p for p in passages if id(p) not in got_p),
    )


def true_intervals(
    doc: Mapping[str, Any], t0: float, interval_s: float, thresholds: Sequence[float]
) -> dict[float, Interval]:
    """What each capture-clock interval the clip touches should report."""
    fps, lanes = doc["fps"], doc["lanes"]
    region_km = doc["region_length_m"] / 1000.0
    occupancy: dict[float, list[int]] = {}
    for k, n in enumerate(doc["in_region"]):
        start = math.floor((t0 + k / fps) / interval_s) * interval_s
        occupancy.setdefault(start, []).append(n)
    counts = dict.fromkeys(occupancy, 0)
    for v in doc["vehicles"]:
        start = math.floor((t0 + v["crossing_time_s"]) / interval_s) * interval_s
        if start in counts:
            counts[start] += 1
    out = {}
    for start, values in occupancy.items():
        density = float(np.mean(values)) / region_km / lanes
        level = int(np.searchsorted(np.asarray(thresholds), density, side="right"))
        out[start] = Interval(start, interval_s, counts[start], density, CONGESTION[level])
    return out


def summarise(score: Score) -> dict[str, Any]:
    """The figures a person reads: counts, lanes, directions, speed errors."""
    errors = score.speeds
    kmh = np.abs([e.kmh for e in errors]) if errors else np.zeros(0)
    pct = np.abs([e.pct for e in errors]) if errors else np.zeros(0)
    return {
        "true": len(score.pairs) + len(score.missed),
        "counted": len(score.pairs) + len(score.extra),
        "matched": len(score.pairs),
        "missed": [t.id for t in score.missed],
        "extra": len(score.extra),
        "wrong_direction": [t.id for t in score.wrong_direction],
        "wrong_lane": [t.id for t in score.wrong_lane],
        "speed_samples": len(errors),
        "speed_err_median_kmh": float(np.median(kmh)) if errors else None,
        "speed_err_worst_kmh": float(kmh.max()) if errors else None,
        "speed_err_median_pct": float(np.median(pct)) if errors else None,
        "speed_err_worst_pct": float(pct.max()) if errors else None,
        "signed_speed_err_kmh": {e.truth.id: round(e.kmh, 1) for e in errors},
    }

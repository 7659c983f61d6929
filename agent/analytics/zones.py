"""`PolygonZone`: occupancy, dwell time and loitering alerts for one polygon.

A track's bottom-centre decides whether it is in the zone. Entering is immediate; leaving
needs ``exit_grace_seconds`` without being seen inside, which covers both boundary jitter and
a short detector dropout, so one visit is never split into two (nor counted twice).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.analytics.common import class_ids, label_of, rule_rows
from agent.analytics.geometry import points_in_polygon
from agent.config.analytics import ZoneConfig
from agent.detections import Detections
from agent.events.types import (
    AnalyticsEvent,
    Loitering,
    ZoneEnter,
    ZoneExit,
    track_event,
)

log = logging.getLogger(__name__)


@dataclass
class _Visit:
    label: str
    entered: float
    last_inside: float
    loitered: bool = False


class PolygonZone:
    """Occupancy, dwell and loitering for confirmed tracks of the zone's classes."""

    def __init__(self, config: ZoneConfig, labels: Sequence[str]) -> None:
        self.config = config
        self.labels = tuple(labels)
        self.polygon = np.asarray(config.polygon, np.float64)
        self._classes = class_ids(config.classes, self.labels, f"zones[{config.id}].classes")
        self._visits: dict[int, _Visit] = {}

    @property
    def occupancy(self) -> dict[str, int]:
        """Tracks in the zone now, per label."""
        out: dict[str, int] = {}
        for v in self._visits.values():
            out[v.label] = out.get(v.label, 0) + 1
        return out

    def dwell_seconds(self, track_id: int, now: float) -> float | None:
        """How long a track has been in the zone, or None if it is not in it."""
        v = self._visits.get(track_id)
        return None if v is None else now - v.entered

    def update(
        self, detections: Detections, timestamp: float, *, predicted: bool = False
    ) -> list[AnalyticsEvent]:
        """`ZoneEnter`, `ZoneExit` and `Loitering` events (dwell, occupancy of that label).

        Exits are reported first, then entries, then loitering, so occupancy in each event
        is the count right after it. `predicted`: the boxes are the tracker's predictions
        for a frame the detector skipped; they keep visits that are open (a prediction
        inside counts as seen inside) but never open one, so a prediction that strays
        into the zone cannot make a visit of its own.
        """
        rows = np.flatnonzero(rule_rows(detections, self._classes))
        inside = points_in_polygon(detections.bottom_center[rows], self.polygon)
        rows_in = rows[inside]
        seen = {int(detections.tracker_id[r]): int(r) for r in rows_in}
        if predicted:
            seen = {tid: row for tid, row in seen.items() if tid in self._visits}
        events = self._exits(detections, seen, timestamp)
        for tid, row in seen.items():
            visit = self._visits.get(tid)
            if visit is None:
                label = label_of(self.labels, int(detections.class_id[row]))
                visit = self._visits[tid] = _Visit(label, timestamp, timestamp)
                events.append(self._event(ZoneEnter, detections[row], visit, timestamp))
            visit.last_inside = timestamp
        for tid, row in seen.items():
            visit = self._visits[tid]
            if not visit.loitered and timestamp - visit.entered >= self.config.loiter_seconds:
                visit.loitered = True
                events.append(self._event(Loitering, detections[row], visit, timestamp))
        return events

    def _exits(
        self, detections: Detections, seen: dict[int, int], now: float
    ) -> list[AnalyticsEvent]:
        gone = [
            tid
            for tid, v in self._visits.items()
            if tid not in seen and now - v.last_inside > self.config.exit_grace_seconds
        ]
        events = []
        present = {int(t): i for i, t in enumerate(detections.tracker_id.tolist())}
        for tid in gone:
            visit = self._visits.pop(tid)
            dwell = visit.last_inside - visit.entered
            detail = ZoneExit(dwell, self.occupancy.get(visit.label, 0))
            if tid in present:  # walked out in view: report where it is now
                events.append(
                    track_event(
                        detail, self.config.id, now, detections[present[tid]], label=visit.label
                    )
                )
            else:  # vanished (occluded or out of frame): no box this frame
                events.append(AnalyticsEvent(detail, self.config.id, now, tid, visit.label))
            log.debug("zone %s: track %s left after %.1f s", self.config.id, tid, dwell)
        return events

    def _event(
        self, kind: type[ZoneEnter | Loitering], row: Detections, visit: _Visit, now: float
    ) -> AnalyticsEvent:
        detail = kind(now - visit.entered, self.occupancy.get(visit.label, 0))
        return track_event(detail, self.config.id, now, row, label=visit.label)

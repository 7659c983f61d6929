"""`AbandonedObjectDetector`: a bag that stands still while nobody is near it.

Per watched object (a confirmed backpack/handbag/suitcase track) two clocks run:

* stationary: since its centre last moved more than ``movement_tolerance`` box diagonals;
* unattended: since a person's box was last within ``radius_scale`` x the object's larger
  side of its centre (so the radius follows perspective: a bag far away is small, and so is
  the distance that counts as "next to it").

When both pass their thresholds the object raises one alert naming the person track that
was nearest when it first appeared (who probably brought it). It never alerts again under
that identity. An alerted object that stays away from its resting point (moved, or no
longer detected) for ``clear_seconds`` is reported cleared.

Small objects drop out of detection, and a person standing in front hides them long enough
for the tracker to give them a new id. A new object track that appears on the resting point
of a missing one of the same label therefore inherits its state (clocks, owner, alert).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.analytics.common import class_ids, label_of, rule_rows
from agent.analytics.geometry import point_box_distance
from agent.config.analytics import AbandonedConfig
from agent.detections import NO_TRACK, Detections
from agent.events.types import Abandoned, AbandonedCleared, AnalyticsEvent, track_event

log = logging.getLogger(__name__)

RULE_ID = "abandoned"
# Unalerted objects missing this long are forgotten (memory bound, and a bag gone that long
# is not "the same bag standing there" any more).
FORGET_SECONDS = 60.0


@dataclass
class _Item:
    label: str
    owner: int
    anchor: np.ndarray  # resting centre
    diagonal: float
    rest_since: float
    last_attended: float
    last_seen: float
    alerted_at: float | None = None
    away_since: float | None = None  # alerted and off its resting point (or unseen) since
    done: bool = False  # alerted and cleared: ignored for as long as it is seen


@dataclass(frozen=True)
class _Frame:
    """Per-frame vectorised facts about the watched objects (row-aligned with `rows`)."""

    rows: np.ndarray
    centres: np.ndarray
    diagonals: np.ndarray
    attended: np.ndarray
    owners: np.ndarray


class AbandonedObjectDetector:
    """Alerts on unattended stationary objects; clears them when taken away."""

    def __init__(self, config: AbandonedConfig, labels: Sequence[str]) -> None:
        self.config = config
        self.labels = tuple(labels)
        self._objects = class_ids(config.classes, self.labels, "abandoned.classes")
        self._people = class_ids(config.person_classes, self.labels, "abandoned.person_classes")
        self._items: dict[int, _Item] = {}

    def owner_of(self, track_id: int) -> int | None:
        """Person track remembered as having brought the object (NO_TRACK if none)."""
        item = self._items.get(track_id)
        return None if item is None else item.owner

    def update(self, detections: Detections, timestamp: float) -> list[AnalyticsEvent]:
        """Events with an `Abandoned` or `AbandonedCleared` detail."""
        f = self._measure(detections)
        events: list[AnalyticsEvent] = []
        seen: set[int] = set()
        for k, row in enumerate(f.rows.tolist()):
            tid = int(detections.tracker_id[row])
            seen.add(tid)
            item = self._items.get(tid) or self._adopt(tid, f.centres[k], row, detections)
            if item is None:
                item = self._items[tid] = _Item(
                    label_of(self.labels, int(detections.class_id[row])),
                    int(f.owners[k]),
                    f.centres[k],
                    float(f.diagonals[k]),
                    timestamp,
                    timestamp,
                    timestamp,
                )
            event = self._step(
                item,
                tid,
                detections[row],
                timestamp,
                centre=f.centres[k],
                attended=bool(f.attended[k]),
            )
            if event is not None:
                events.append(event)
        events += self._missing(seen, timestamp)
        return events

    def _measure(self, detections: Detections) -> _Frame:
        rows = np.flatnonzero(rule_rows(detections, self._objects))
        boxes = detections.xyxy[rows].astype(np.float64)
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        wh = np.clip(boxes[:, 2:] - boxes[:, :2], 1.0, None)
        side, diagonal = wh.max(axis=1), np.hypot(wh[:, 0], wh[:, 1])
        people = np.flatnonzero(rule_rows(detections, self._people))
        dist = point_box_distance(centres, detections.xyxy[people])  # (bags, people)
        attended = (dist <= self.config.radius_scale * side[:, None]).any(axis=1)
        owners = np.full(rows.size, NO_TRACK, np.int64)
        if people.size:
            nearest = dist.argmin(axis=1)
            near_enough = dist[np.arange(rows.size), nearest] <= (
                self.config.owner_radius_scale * side
            )
            owners = np.where(near_enough, detections.tracker_id[people][nearest], NO_TRACK)
        return _Frame(rows, centres, diagonal, attended, owners)

    def _adopt(
        self, tid: int, centre: np.ndarray, row: int, detections: Detections
    ) -> _Item | None:
        """Hand a missing object's state to a new track found on its resting point."""
        label = label_of(self.labels, int(detections.class_id[row]))
        present = set(detections.tracker_id.tolist())
        for old, item in self._items.items():
            if old in present or item.label != label or item.done:
                continue
            if np.hypot(*(centre - item.anchor)) <= self.config.movement_tolerance * item.diagonal:
                log.debug("abandoned: track %s continues object track %s", tid, old)
                self._items[tid] = self._items.pop(old)
                return self._items[tid]
        return None

    def _step(
        self,
        item: _Item,
        tid: int,
        row: Detections,
        now: float,
        *,
        centre: np.ndarray,
        attended: bool,
    ) -> AnalyticsEvent | None:
        cfg = self.config
        item.last_seen = now
        if item.done:
            return None
        moved = np.hypot(*(centre - item.anchor)) > cfg.movement_tolerance * item.diagonal
        if item.alerted_at is not None:
            # After an alert the resting point stays fixed: being away from it is what
            # "taken away" means, and it must last clear_seconds to rule out a bad box.
            if not moved:
                item.away_since = None
                return None
            item.away_since = now if item.away_since is None else item.away_since
            return self._cleared(tid, item, now, row) if self._gone_long(item, now) else None
        if moved:
            item.anchor, item.rest_since = centre, now
        if attended:
            item.last_attended = now
        if now - item.rest_since >= cfg.stationary_seconds and (
            now - item.last_attended >= cfg.unattended_seconds
        ):
            item.alerted_at = now
            log.info("abandoned %s (track %s, owner %s)", item.label, tid, item.owner)
            return track_event(self._alert(item, now), RULE_ID, now, row, label=item.label)
        return None

    def _missing(self, seen: set[int], now: float) -> list[AnalyticsEvent]:
        events = []
        for tid in [t for t in self._items if t not in seen]:
            item = self._items[tid]
            if item.done:
                del self._items[tid]
                continue
            if item.alerted_at is None:
                if now - item.last_seen > FORGET_SECONDS:
                    del self._items[tid]
                continue
            item.away_since = item.last_seen if item.away_since is None else item.away_since
            if self._gone_long(item, now):
                events.append(self._cleared(tid, item, now, None))
        return events

    def _gone_long(self, item: _Item, now: float) -> bool:
        return item.away_since is not None and now - item.away_since >= self.config.clear_seconds

    def _cleared(self, tid: int, item: _Item, now: float, row: Detections | None) -> AnalyticsEvent:
        """Report the alert as over. The track stays remembered (done) while it is still
        seen, so the same object never alerts twice; once unseen it is dropped."""
        alert = self._alert(item, now)
        detail = AbandonedCleared(
            alert.owner_track_id,
            alert.stationary_seconds,
            alert.unattended_seconds,
            alerted_seconds=now - (item.alerted_at or now),
        )
        if row is None:
            del self._items[tid]
            return AnalyticsEvent(detail, RULE_ID, now, tid, item.label)
        item.done = True
        return track_event(detail, RULE_ID, now, row, label=item.label)

    @staticmethod
    def _alert(item: _Item, now: float) -> Abandoned:
        return Abandoned(item.owner, now - item.rest_since, now - item.last_attended)

"""`LineCounter`: direction-aware line crossing per class, with hysteresis.

Each confirmed track has a *committed side* of the line. Its bottom-centre (where it meets
the ground) must leave a dead band of ``hysteresis_px`` on the other side, for
``min_frames`` consecutive observations, before the side flips and one crossing is counted.
Inside the band nothing changes, so a box straddling the line or jittering on it counts
once. A return to the old side before ``min_frames`` cancels the pending flip (supervision's
LineZone counted such a flicker as a crossing the other way).

Crossings count only where the motion actually passes through the segment; walking around
the end of a line flips the side silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from agent.analytics.common import class_ids, label_of, rule_rows
from agent.analytics.geometry import Segment
from agent.config.analytics import LineConfig
from agent.detections import Detections
from agent.events.types import AnalyticsEvent, Direction, LineCrossed, track_event

log = logging.getLogger(__name__)

IN: Final = "in"
OUT: Final = "out"
# Per-track state of tracks unseen this long is dropped; ids are never reused, so this only
# bounds memory.
FORGET_SECONDS = 120.0

Origins = Callable[[npt.NDArray[np.int64]], npt.ArrayLike]


@dataclass
class _TrackSide:
    side: int  # +1 right of start->end, -1 left
    anchor: np.ndarray  # last point seen beyond the band on the committed side
    last_seen: float
    pending: int = 0  # consecutive observations beyond the band on the other side


@dataclass(frozen=True)
class Crossing:
    """One counted crossing, also returned to composite rules such as traffic flow."""

    track_id: int
    label: str
    direction: Direction
    row: int  # row in the frame's detections


class LineCounter:
    """Counts confirmed tracks crossing a segment, per class and direction."""

    def __init__(
        self,
        config: LineConfig,
        labels: Sequence[str],
        classes: Sequence[str] | None = None,
        origins: Origins | None = None,
    ) -> None:
        """`classes` overrides the config's classes (e.g. a traffic rule's vehicles).

        `origins` maps track ids to the box each track was first detected with (see
        `ByteTrack.birth_boxes`). With it, a track that crossed while it was still
        unconfirmed is counted when it is confirmed; without it, its first confirmed
        position fixes its side and that crossing is lost.
        """
        self.config = config
        self._origins = origins
        self.labels = tuple(labels)
        self.segment = Segment(*config.points)
        names = config.classes if classes is None else classes
        self._classes = class_ids(names, self.labels, f"lines[{config.id}].classes")
        self._state: dict[int, _TrackSide] = {}
        self.counts: dict[str, dict[str, int]] = {}  # label -> {"in": n, "out": n}

    @property
    def in_count(self) -> int:
        """Crossings in the line's "in" direction so far, all labels together."""
        return sum(c.get(IN, 0) for c in self.counts.values())

    @property
    def out_count(self) -> int:
        """Crossings in the line's "out" direction so far, all labels together."""
        return sum(c.get(OUT, 0) for c in self.counts.values())

    def update(
        self, detections: Detections, timestamp: float, *, predicted: bool = False
    ) -> list[AnalyticsEvent]:
        """Count this frame's crossings, one `LineCrossed` event each (see `crossings`)."""
        events = []
        for c in self.crossings(detections, timestamp, predicted=predicted):
            name = self.config.in_name if c.direction == IN else self.config.out_name
            events.append(
                track_event(
                    LineCrossed(c.direction, name),
                    self.config.id,
                    timestamp,
                    detections[c.row],
                    label=c.label,
                )
            )
        return events

    def crossings(
        self, detections: Detections, timestamp: float, *, predicted: bool = False
    ) -> list[Crossing]:
        """Advance per-track state and return the crossings counted in this frame.

        `predicted`: the boxes are the tracker's predictions for a frame the detector
        skipped. They only keep the tracks' state alive: a side is flipped (and a crossing
        counted) on detected positions alone, so a prediction that overshoots the line
        while the person stopped short of it counts nothing, and a crossing made while the
        detector skipped is counted once, on the next detected frame beyond the band.
        """
        if predicted:
            self._keep_alive(detections, timestamp)
            return []
        rows = np.flatnonzero(rule_rows(detections, self._classes))
        points = detections.bottom_center[rows].astype(np.float64)
        dist = self.segment.signed_distance(points)
        band = self.config.hysteresis_px
        obs = np.where(dist > band, 1, np.where(dist < -band, -1, 0))
        self._seed(detections.tracker_id[rows], timestamp)
        found: list[Crossing] = []
        for row, point, side in zip(rows.tolist(), points, obs.tolist(), strict=True):
            tid = int(detections.tracker_id[row])
            direction = self._observe(tid, point, side, timestamp)
            if direction is not None:
                label = label_of(self.labels, int(detections.class_id[row]))
                per_label = self.counts.setdefault(label, {IN: 0, OUT: 0})
                per_label[direction] += 1
                found.append(Crossing(tid, label, direction, row))
                log.debug("line %s: track %s crossed %s", self.config.id, tid, direction)
        self._forget(timestamp)
        return found

    def _keep_alive(self, detections: Detections, now: float) -> None:
        """Predicted rows: tracks this rule already follows were seen now, nothing else."""
        rows = np.flatnonzero(rule_rows(detections, self._classes))
        for tid in detections.tracker_id[rows].tolist():
            st = self._state.get(int(tid))
            if st is not None:
                st.last_seen = now
        self._forget(now)

    def _seed(self, track_ids: npt.NDArray[np.int64], now: float) -> None:
        """Give tracks seen for the first time the side they were born on."""
        fresh = np.array([t not in self._state for t in track_ids.tolist()], bool)
        if self._origins is None or not fresh.any():
            return
        births = np.asarray(self._origins(track_ids[fresh]), np.float64).reshape(-1, 4)
        feet = np.stack([(births[:, 0] + births[:, 2]) / 2, births[:, 3]], axis=1)
        dist = self.segment.signed_distance(feet)
        band = self.config.hysteresis_px
        side = np.where(dist > band, 1, np.where(dist < -band, -1, 0))  # NaN -> 0: unknown
        for tid, foot, s in zip(track_ids[fresh].tolist(), feet, side.tolist(), strict=True):
            if s != 0:
                self._state[tid] = _TrackSide(s, foot, now)

    def _observe(self, tid: int, point: np.ndarray, side: int, now: float) -> Direction | None:
        st = self._state.get(tid)
        if st is None:
            if side != 0:  # first sighting (birth unknown) fixes the side; never a crossing
                self._state[tid] = _TrackSide(side, point, now)
            return None
        st.last_seen = now
        if side == 0:
            return None
        if side == st.side:
            st.anchor, st.pending = point, 0
            return None
        st.pending += 1
        if st.pending < self.config.min_frames:
            return None
        where = float(self.segment.crossing_along(st.anchor, point)[0])
        old = st.side
        st.side, st.anchor, st.pending = side, point, 0
        if not 0.0 <= where <= 1.0:
            return None  # went round the end of the segment
        return IN if old < 0 else OUT

    def _forget(self, now: float) -> None:
        stale = [t for t, s in self._state.items() if now - s.last_seen > FORGET_SECONDS]
        for tid in stale:
            del self._state[tid]

"""`TrafficFlow`: per-interval counts, speed, density/congestion and wrong way on one line.

Speed needs metres, not pixels: a `GroundPlane` homography from four image points to four
ground points (metres) maps each vehicle's bottom-centre onto the road, and speed is the
ground distance covered over the last ``speed_window_seconds`` of its track. A speed sample
is taken when a vehicle crosses the line (or, if its track is younger than half the window
then, as soon as it is old enough), so every counted vehicle contributes at most one sample.

Density is the mean number of vehicles inside the calibrated road region per frame, divided
by that region's length and lane count; congestion is graded from density. Intervals align to
multiples of ``interval_seconds`` on the capture clock. An interval is reported when the first
frame of a later interval arrives (or on `flush`); intervals with no frames at all are not
reported, because "not observed" is not "no traffic".
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import numpy.typing as npt

from agent.analytics.common import class_ids, rule_rows
from agent.analytics.geometry import Segment, points_in_polygon
from agent.analytics.line import LineCounter, Origins
from agent.config.analytics import CalibrationConfig, LineConfig, TrafficConfig
from agent.detections import Detections
from agent.errors import ConfigError
from agent.events.types import (
    AnalyticsEvent,
    Congestion,
    Direction,
    TrafficInterval,
    WrongWay,
    track_event,
)

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
CONGESTION: tuple[Congestion, ...] = ("free", "moderate", "heavy", "jam")
MS_TO_KMH = 3.6


class GroundPlane:
    """Homography from image pixels to metres on a flat ground plane."""

    def __init__(self, calibration: CalibrationConfig) -> None:
        src = np.asarray(calibration.image_points, np.float32)
        dst = np.asarray(calibration.ground_points, np.float32)
        self.image_quad = src.astype(np.float64)
        try:
            self.matrix = cv2.getPerspectiveTransform(src, dst).astype(np.float64)
        except cv2.error as err:
            raise ConfigError(f"calibration: cannot solve the ground homography: {err}") from err
        if not np.all(np.isfinite(self.matrix)) or abs(np.linalg.det(self.matrix)) < 1e-12:
            raise ConfigError("calibration: image and ground points give a degenerate mapping")

    def to_ground(self, points: npt.ArrayLike) -> F64:
        """Image points (n, 2) -> ground metres (n, 2)."""
        p = np.asarray(points, np.float64).reshape(-1, 2)
        h = np.concatenate([p, np.ones((p.shape[0], 1))], axis=1) @ self.matrix.T
        return np.asarray(h[:, :2] / h[:, 2:3])

    def to_image(self, ground: npt.ArrayLike) -> F64:
        """Ground metres (n, 2) -> image points (n, 2), the inverse mapping."""
        g = np.asarray(ground, np.float64).reshape(-1, 2)
        h = np.concatenate([g, np.ones((g.shape[0], 1))], axis=1) @ np.linalg.inv(self.matrix).T
        return np.asarray(h[:, :2] / h[:, 2:3])

    def distance_m(self, a: npt.ArrayLike, b: npt.ArrayLike) -> float:
        """Ground distance between two image points."""
        ga, gb = self.to_ground(np.concatenate([np.reshape(a, (1, 2)), np.reshape(b, (1, 2))]))
        return float(np.linalg.norm(ga - gb))

    def contains(self, points: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Which image points lie inside the calibrated quadrilateral."""
        return points_in_polygon(points, self.image_quad)


PASSAGES_KEPT = 4096


@dataclass(frozen=True)
class Passage:
    """One counted vehicle: when and how it crossed, and its measured speed (if any)."""

    track_id: int
    label: str
    time: float
    direction: Direction
    lane: int  # 1..lanes, lane 1 at the line's first point
    speed_kmh: float | None


@dataclass
class _Interval:
    index: int
    first: float
    last: float
    counts: dict[str, int] = field(default_factory=dict)
    directions: dict[str, int] = field(default_factory=lambda: {"in": 0, "out": 0})
    lanes: dict[str, list[int]] = field(default_factory=dict)  # direction -> per-lane counts
    speeds: list[float] = field(default_factory=list)
    occupancy_sum: float = 0.0
    frames: int = 0
    wrong_way: int = 0
    speeding: int = 0


class TrafficFlow:
    """Traffic statistics for one line; `update` returns wrong-way alerts and closed intervals."""

    def __init__(
        self,
        config: TrafficConfig,
        line: LineConfig,
        labels: Sequence[str],
        origins: Origins | None = None,
    ) -> None:
        """`origins`: where tracks were born, see `LineCounter`."""
        if line.id != config.line_id:
            raise ConfigError(f"traffic.line_id: {config.line_id!r} given line {line.id!r}")
        self.config = config
        self.labels = tuple(labels)
        self._classes = class_ids(config.classes, self.labels, f"traffic[{line.id}].classes")
        self.ground = GroundPlane(config.calibration)
        self.counter = LineCounter(line, labels, classes=config.classes, origins=origins)
        self.region_length_m = config.region_length_m or self._measure_region(line)
        self._line_ground = self.ground.to_ground(np.asarray(line.points, np.float64))
        self._history: dict[int, deque[tuple[float, float, float]]] = {}
        self._awaiting_speed: dict[int, Passage] = {}  # track -> its crossing, speed unknown
        self.passages: deque[Passage] = deque(maxlen=PASSAGES_KEPT)
        if not config.calibration.surveyed:
            log.warning(
                "traffic[%s]: calibration not surveyed; its speeds are uncalibrated estimates",
                line.id,
            )
        self._wrong_way_reported: set[int] = set()
        self._interval: _Interval | None = None

    def _measure_region(self, line: LineConfig) -> float:
        """Extent of the ground quad across the line, i.e. along the direction of travel."""
        ends = self.ground.to_ground(np.asarray(line.points, np.float64))
        across = Segment(ends[0], ends[1]).normal
        ground = np.asarray(self.config.calibration.ground_points, np.float64)
        extent = float(np.ptp(ground @ across))
        if extent <= 0:
            raise ConfigError(
                f"traffic[{line.id}].calibration: region has no length across "
                "the line; set region_length_m"
            )
        return extent

    def lane_of(self, ground_point: npt.ArrayLike) -> int:
        """Lane (1..lanes) of a ground point: which equal slice of the line it is beside."""
        a, b = self._line_ground
        ab = b - a
        t = float(np.dot(np.asarray(ground_point, np.float64) - a, ab) / np.dot(ab, ab))
        return min(max(int(t * self.config.lanes) + 1, 1), self.config.lanes)

    def speed_kmh(self, track_id: int) -> float | None:
        """Current ground speed of a track, or None while its history is too short."""
        hist = self._history.get(track_id)
        if not hist:
            return None
        t1, x1, y1 = hist[-1]
        t0, x0, y0 = hist[0]
        if t1 - t0 < 0.5 * self.config.speed_window_seconds:
            return None
        return math.hypot(x1 - x0, y1 - y0) / (t1 - t0) * MS_TO_KMH

    def update(
        self, detections: Detections, timestamp: float, *, predicted: bool = False
    ) -> list[AnalyticsEvent]:
        """`WrongWay` alerts for this frame, plus a `TrafficInterval` per closed interval.

        `predicted` (tracker predictions for a frame the detector skipped): they count
        towards occupancy, but speeds are measured and crossings counted on detected
        positions only (a prediction's position is the track's own extrapolated speed).
        """
        events = self._roll(timestamp)
        iv = self._interval
        assert iv is not None
        rows = np.flatnonzero(rule_rows(detections, self._classes))
        feet = detections.bottom_center[rows].astype(np.float64)
        if not predicted:
            self._remember(detections.tracker_id[rows], self.ground.to_ground(feet), timestamp)
        iv.occupancy_sum += float(self.ground.contains(feet).sum())
        iv.frames += 1
        iv.last = timestamp
        for c in self.counter.crossings(detections, timestamp, predicted=predicted):
            foot = self.ground.to_ground(detections.bottom_center[c.row : c.row + 1])[0]
            passage = Passage(c.track_id, c.label, timestamp, c.direction, self.lane_of(foot), None)
            self._count(iv, passage)
            self._awaiting_speed[c.track_id] = passage
            expected = self.config.expected_direction
            if expected and c.direction != expected and c.track_id not in self._wrong_way_reported:
                self._wrong_way_reported.add(c.track_id)
                iv.wrong_way += 1
                wrong = WrongWay(c.direction, self.speed_kmh(c.track_id), passage.lane)
                row = detections[c.row]
                events.append(
                    track_event(wrong, self.config.line_id, timestamp, row, label=c.label)
                )
                log.info("line %s: wrong-way %s track %s", self.config.line_id, c.label, c.track_id)
        self._sample_speeds(timestamp)
        return events

    def _count(self, iv: _Interval, p: Passage) -> None:
        iv.counts[p.label] = iv.counts.get(p.label, 0) + 1
        iv.directions[p.direction] += 1
        per_lane = iv.lanes.setdefault(p.direction, [0] * self.config.lanes)
        per_lane[p.lane - 1] += 1

    def flush(self, timestamp: float) -> list[AnalyticsEvent]:
        """Report the open interval now (e.g. at shutdown), partial as it is."""
        iv, self._interval = self._interval, None
        return [] if iv is None or iv.frames == 0 else [self._close(iv, timestamp)]

    def _roll(self, timestamp: float) -> list[AnalyticsEvent]:
        index = math.floor(timestamp / self.config.interval_seconds)
        events = []
        if self._interval is not None and index != self._interval.index:
            events.append(self._close(self._interval, timestamp))
            self._interval = None
        if self._interval is None:
            self._interval = _Interval(index, timestamp, timestamp)
        return events

    def _remember(self, track_ids: npt.NDArray[np.int64], ground: F64, now: float) -> None:
        window = self.config.speed_window_seconds
        for tid, (gx, gy) in zip(track_ids.tolist(), ground.tolist(), strict=True):
            hist = self._history.setdefault(int(tid), deque())
            hist.append((now, gx, gy))
            while len(hist) > 2 and now - hist[1][0] >= window:
                hist.popleft()
        stale = [t for t, h in self._history.items() if now - h[-1][0] > 10 * window + 5]
        for tid in stale:
            del self._history[tid]
            pending = self._awaiting_speed.pop(tid, None)
            if pending is not None:
                self.passages.append(pending)

    def _sample_speeds(self, now: float) -> None:
        assert self._interval is not None
        limit = self.config.speed_limit_kmh
        for tid, crossed in list(self._awaiting_speed.items()):
            speed = self.speed_kmh(tid)
            if speed is None:
                if now - crossed.time > 2 * self.config.speed_window_seconds:
                    del self._awaiting_speed[tid]  # never got enough history: no sample
                    self.passages.append(crossed)
                continue
            del self._awaiting_speed[tid]
            self.passages.append(replace(crossed, speed_kmh=speed))
            self._interval.speeds.append(speed)
            if limit is not None and speed > limit:
                self._interval.speeding += 1

    def _close(self, iv: _Interval, now: float) -> AnalyticsEvent:
        """The interval's `TrafficInterval` event, stamped at its end (or now, if earlier)."""
        cfg = self.config
        density = (iv.occupancy_sum / max(iv.frames, 1)) / (self.region_length_m / 1000.0)
        density /= cfg.lanes
        level = int(
            np.searchsorted(np.asarray(cfg.congestion_density_per_km_lane), density, side="right")
        )
        start = iv.index * cfg.interval_seconds
        detail = TrafficInterval(
            interval_start=start,
            interval_seconds=cfg.interval_seconds,
            observed_seconds=iv.last - iv.first,
            counts=dict(iv.counts),
            count_in=iv.directions["in"],
            count_out=iv.directions["out"],
            mean_speed_kmh=float(np.mean(iv.speeds)) if iv.speeds else 0.0,
            speed_samples=len(iv.speeds),
            density_per_km_lane=density,
            lanes=cfg.lanes,
            congestion=CONGESTION[level],
            wrong_way=iv.wrong_way,
            speeding=iv.speeding,
            lane_in=tuple(iv.lanes.get("in", [0] * cfg.lanes)),
            lane_out=tuple(iv.lanes.get("out", [0] * cfg.lanes)),
            speed_calibrated=cfg.calibration.surveyed,
        )
        return AnalyticsEvent(detail, cfg.line_id, min(start + cfg.interval_seconds, now))

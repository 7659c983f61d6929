"""`CameraAnalytics`: one camera's tracker and rules, built from its validated config.

The pipeline calls `update` once per detected frame with the detector's raw output; the
tracker runs first and only its confirmed rows reach the rules. Rules are independent: a
line with a traffic rule still reports its own per-track crossings for its own classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from agent.analytics.abandoned import AbandonedObjectDetector
from agent.analytics.faces import FaceAnalyzer
from agent.analytics.line import LineCounter
from agent.analytics.traffic import TrafficFlow
from agent.analytics.zones import PolygonZone
from agent.config.analytics import CameraAnalyticsConfig
from agent.detections import Detections
from agent.events.types import AnalyticsEvent
from agent.track.bytetrack import ByteTrack


class Rule(Protocol):
    """What every analytics object offers; the pipeline needs nothing else."""

    def update(
        self, detections: Detections, timestamp: float, *, predicted: bool = False
    ) -> list[AnalyticsEvent]:
        """Events caused by this frame's confirmed tracks; `detections` is left as it was.

        `predicted`: the tracks are the tracker's predictions for a frame the detector
        skipped (`ByteTrack.coast`); a rule may let them keep what it holds (a visit, a
        track's side of a line) but must not count or start anything on them alone.
        """
        ...


@dataclass(frozen=True)
class FrameAnalytics:
    """What one frame produced: the confirmed tracks and the events."""

    tracks: Detections
    events: list[AnalyticsEvent] = field(default_factory=list)


class CameraAnalytics:
    """Tracker + rules of one camera. Raises `ConfigError` if a rule names an unknown label."""

    def __init__(
        self,
        config: CameraAnalyticsConfig,
        labels: Sequence[str],
        faces: FaceAnalyzer | None = None,
    ) -> None:
        """`faces`: the camera's face analytic (needs the frame in `update`); none if unset."""
        self.config = config
        self.faces = faces
        self.labels = tuple(labels)
        self.tracker = ByteTrack(config.tracker, labels=self.labels)
        origins = self.tracker.birth_boxes
        self.lines = {c.id: LineCounter(c, self.labels, origins=origins) for c in config.lines}
        self.zones = {c.id: PolygonZone(c, self.labels) for c in config.zones}
        by_id = {c.id: c for c in config.lines}
        self.traffic = {
            c.line_id: TrafficFlow(c, by_id[c.line_id], self.labels, origins)
            for c in config.traffic
        }
        self.abandoned = (
            AbandonedObjectDetector(config.abandoned, self.labels)
            if config.abandoned is not None
            else None
        )
        self._held = Detections.empty()  # the tracker's last output, for held frames
        self.rules: tuple[Rule, ...] = (
            *self.lines.values(),
            *self.zones.values(),
            *self.traffic.values(),
            *([self.abandoned] if self.abandoned else []),
        )

    def update(
        self,
        detections: Detections,
        timestamp: float,
        frame: np.ndarray | None = None,
        *,
        hold: bool = False,
        predict: bool = False,
        motion: bool = True,
        bounds: tuple[int, int] | None = None,
    ) -> FrameAnalytics:
        """Track this frame's detections and run every rule on the confirmed tracks.

        `frame` (BGR) feeds the rules that look at pixels: faces, abandoned objects.
        `hold`: the detector skipped this frame because nothing moved and the tracker is
        `settled`; the tracker's last output stands as this frame's tracks (what a pass
        would have matched again) instead of an empty frame aging every track. Ignored
        when the tracker is not settled. `predict`: the detector skipped this frame
        because live tracks explain all its motion (`MotionGate` "tracked"); the tracker's
        predicted tracks (`ByteTrack.coast`) are this frame's tracks, and rules are told
        so; `bounds` (height, width of the frame in the tracks' pixels) clips predicted
        boxes to the picture. `motion` false: the gate saw nothing move, so the
        static-object model may run at its idle rate.
        """
        tracks = self.track(detections, timestamp, hold=hold, predict=predict, bounds=bounds)
        events: list[AnalyticsEvent] = []
        for rule in self.rules:
            if rule is not self.abandoned:
                events += rule.update(tracks, timestamp, predicted=predict)
        if self.abandoned is not None:
            # The one rule that finds its objects in pixels; raw detections name them.
            events += self.abandoned.update(
                tracks, timestamp, frame, detections, motion=motion, predicted=predict
            )
        if self.faces is not None and frame is not None:
            events += self.faces.update(frame, tracks, timestamp)
        return FrameAnalytics(tracks, events)

    def track(
        self,
        detections: Detections,
        timestamp: float,
        *,
        hold: bool = False,
        predict: bool = False,
        bounds: tuple[int, int] | None = None,
    ) -> Detections:
        """This frame's confirmed tracks (the tracking step of `update`, see there)."""
        if hold and self.tracker.settled:
            return self._held
        if predict:
            self._held = self.tracker.coast(timestamp, bounds)
        else:
            self._held = self.tracker.update(detections, timestamp)
        return self._held

    def flush(self, timestamp: float) -> list[AnalyticsEvent]:
        """Report partial traffic intervals and pending face shots, e.g. when the camera stops."""
        events: list[AnalyticsEvent] = []
        for flow in self.traffic.values():
            events += flow.flush(timestamp)
        if self.faces is not None:
            events += self.faces.flush(timestamp)
        return events

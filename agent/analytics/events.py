"""`AnalyticsEvent`: what an analytics rule reports, before it becomes a wire message.

Plain Python on purpose: rules stay testable without protobuf, and the wire-only facts
(event id, per-camera sequence, model versions) are added once, where events leave the
pipeline (`agent.events.convert`), instead of being threaded through every rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from agent.detections import NO_TRACK, Detections


class EventKind(StrEnum):
    LINE_CROSSING = "line_crossing"
    ZONE_ENTER = "zone_enter"
    ZONE_EXIT = "zone_exit"
    LOITERING = "loitering"
    TRAFFIC_FLOW = "traffic_flow"
    WRONG_WAY = "wrong_way"
    ABANDONED = "abandoned"
    ABANDONED_CLEARED = "abandoned_cleared"
    FACE = "face"


Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class AnalyticsEvent:
    """One analytics result.

    Attributes:
        kind: what happened.
        rule_id: id of the line, zone or rule that produced it ("" for camera-wide rules).
        capture_time: capture clock of the frame that caused it, seconds since the epoch.
        track_id: the confirmed track it is about, ``NO_TRACK`` for aggregates.
        label: detector label of that track ("" for aggregates).
        box: the track's box in source pixels in that frame, if about one track.
        confidence: the detector's score for that box, if about one track.
        payload: kind-specific facts (documented where each kind is produced).
    """

    kind: EventKind
    rule_id: str
    capture_time: float
    track_id: int = NO_TRACK
    label: str = ""
    box: Box | None = None
    confidence: float | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Read-only view: an event handed to several sinks must not be edited by one of them.
        object.__setattr__(self, "payload", MappingProxyType(dict(self.payload)))


def track_event(
    kind: EventKind,
    rule_id: str,
    capture_time: float,
    row: Detections,
    *,
    label: str,
    payload: Mapping[str, Any],
) -> AnalyticsEvent:
    """Event about the single track in one-row `row`."""
    x1, y1, x2, y2 = (float(v) for v in row.xyxy[0])
    return AnalyticsEvent(
        kind,
        rule_id,
        capture_time,
        int(row.tracker_id[0]),
        label,
        (x1, y1, x2, y2),
        float(row.confidence[0]),
        payload,
    )

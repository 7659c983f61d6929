"""Analytics events: what a rule reports, one frozen dataclass per kind, before the wire.

Every event is an `AnalyticsEvent` (which rule, when, which track and box) carrying the
facts of its kind as a typed `detail`: `LineCrossed`, `ZoneEnter`, `TrafficInterval`,
`FaceShot`, ... Readers (`agent.events.convert`, `agent.pipeline.summary`,
`agent.faces.shots`) match on the detail's type and read attributes, so renaming a field
is a type error in every reader instead of a `KeyError` at run time.

Plain Python on purpose: rules stay testable without protobuf, and the wire-only facts
(event id, per-camera sequence, model versions) are added once, where events leave the
pipeline (`agent.events.convert`), instead of being threaded through every rule. This
module imports nothing of the rules or the wire, so rules, readers and the wire
conversion all depend on it and it on none of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar, Literal, TypeVar

import numpy as np

from agent.detections import NO_TRACK, Detections


class EventKind(StrEnum):
    """Which rule outcome an event reports; the values are the names logs and summaries use."""

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
Direction = Literal["in", "out"]
Congestion = Literal["free", "moderate", "heavy", "jam"]
Encoding = Literal["float16", "int8"]
FaceReason = Literal["quality", "track_lost", "flush"]
D = TypeVar("D")


@dataclass(frozen=True)
class LineCrossed:
    """A track crossed a line. `direction_name`: the line's name for that direction."""

    kind: ClassVar[EventKind] = EventKind.LINE_CROSSING
    direction: Direction
    direction_name: str = ""


@dataclass(frozen=True)
class ZoneVisit:
    """Facts of every zone event.

    `dwell_seconds`: the visit's dwell so far (or in all, on exit); `occupancy`: tracks of
    that label in the zone right after the event.
    """

    dwell_seconds: float
    occupancy: int


@dataclass(frozen=True)
class ZoneEnter(ZoneVisit):
    """A track entered a zone; `dwell_seconds` is 0."""

    kind: ClassVar[EventKind] = EventKind.ZONE_ENTER


@dataclass(frozen=True)
class ZoneExit(ZoneVisit):
    """A track left a zone; `dwell_seconds` is the whole visit."""

    kind: ClassVar[EventKind] = EventKind.ZONE_EXIT


@dataclass(frozen=True)
class Loitering(ZoneVisit):
    """A track has stayed in a zone past its loitering limit; reported once per visit."""

    kind: ClassVar[EventKind] = EventKind.LOITERING


@dataclass(frozen=True)
class TrafficInterval:
    """One closed traffic interval of a line (see `agent.analytics.traffic`).

    `counts` is per label (read-only); `mean_speed_kmh` is 0 without speed samples;
    `wrong_way` and `speeding` count vehicles in the interval.
    """

    kind: ClassVar[EventKind] = EventKind.TRAFFIC_FLOW
    interval_start: float
    interval_seconds: float
    observed_seconds: float
    counts: Mapping[str, int]
    count_in: int
    count_out: int
    mean_speed_kmh: float
    speed_samples: int
    density_per_km_lane: float
    lanes: int
    congestion: Congestion
    wrong_way: int
    speeding: int
    lane_in: tuple[int, ...] = ()  # crossings "in" per lane, lane 1 first
    lane_out: tuple[int, ...] = ()
    speed_calibrated: bool = False  # False: speeds rest on an unsurveyed (guessed) calibration

    def __post_init__(self) -> None:
        # Read-only view: an event handed to several sinks must not be edited by one of them.
        object.__setattr__(self, "counts", MappingProxyType(dict(self.counts)))

    @property
    def flow_per_min(self) -> float:
        """Vehicles per minute over the whole interval, both directions."""
        return (self.count_in + self.count_out) * 60.0 / self.interval_seconds


@dataclass(frozen=True)
class WrongWay:
    """A vehicle crossed against the expected direction; its speed if it was measured."""

    kind: ClassVar[EventKind] = EventKind.WRONG_WAY
    direction: Direction
    speed_kmh: float | None = None
    lane: int = 1


@dataclass(frozen=True)
class AbandonedFacts:
    """Facts of both abandoned-object events.

    `owner_track_id` is ``NO_TRACK`` if nobody was near the object when it appeared.
    """

    owner_track_id: int
    stationary_seconds: float
    unattended_seconds: float


@dataclass(frozen=True)
class Abandoned(AbandonedFacts):
    """An object has stood unattended past the alert time: the alert starts."""

    kind: ClassVar[EventKind] = EventKind.ABANDONED


@dataclass(frozen=True)
class AbandonedCleared(AbandonedFacts):
    """The alert is over; `alerted_seconds`: how long it stood."""

    kind: ClassVar[EventKind] = EventKind.ABANDONED_CLEARED
    alerted_seconds: float


@dataclass(frozen=True)
class EmbedderId:
    """Name, version and checksum of the model that made an embedding."""

    name: str
    version: str
    sha256: str


@dataclass(frozen=True)
class QualityParts:
    """The factors of a face's quality score, each in [0, 1] (see `agent.faces.quality`)."""

    size: float
    sharpness: float
    pose: float
    score: float


@dataclass(frozen=True, eq=False)
class FaceShot:
    """A person track's best face, embedded.

    `embedding` is the encoded vector (`encoding`, `dimensions` values); `face_box` is in
    source pixels; `shot` is the aligned 112x112 BGR crop (read-only), kept on the box by
    `agent.faces.shots` and never sent. `reason`: why it was reported now.
    Compared by identity (it holds an image).
    """

    kind: ClassVar[EventKind] = EventKind.FACE
    embedding: bytes
    encoding: Encoding
    dimensions: int
    embedder: EmbedderId
    quality: float
    quality_parts: QualityParts
    detector_score: float
    face_box: Box
    shot: np.ndarray
    reason: FaceReason


EventDetail = (
    LineCrossed
    | ZoneEnter
    | ZoneExit
    | Loitering
    | TrafficInterval
    | WrongWay
    | Abandoned
    | AbandonedCleared
    | FaceShot
)


@dataclass(frozen=True)
class AnalyticsEvent:
    """One analytics result.

    Attributes:
        detail: what happened, with the facts of that kind.
        rule_id: id of the line, zone or rule that produced it ("" for camera-wide rules).
        capture_time: capture clock of the frame that caused it, seconds since the epoch.
        track_id: the confirmed track it is about, ``NO_TRACK`` for aggregates.
        label: detector label of that track ("" for aggregates).
        box: the track's box in source pixels in that frame, if about one track.
        confidence: the detector's score for that box, if about one track.
    """

    detail: EventDetail
    rule_id: str
    capture_time: float
    track_id: int = NO_TRACK
    label: str = ""
    box: Box | None = None
    confidence: float | None = None

    @property
    def kind(self) -> EventKind:
        """What happened; follows from the detail's type, so the two never disagree."""
        return self.detail.kind

    def detail_as(self, kind: type[D]) -> D:
        """The detail, checked to be a `kind`: for readers that already selected one kind.

        Raises `TypeError` naming both types if it is not.
        """
        if not isinstance(self.detail, kind):
            raise TypeError(
                f"{self.kind} event has a {type(self.detail).__name__} detail, not {kind.__name__}"
            )
        return self.detail


def track_event(
    detail: EventDetail,
    rule_id: str,
    capture_time: float,
    row: Detections,
    *,
    label: str,
) -> AnalyticsEvent:
    """Event about the single track in one-row `row`."""
    x1, y1, x2, y2 = (float(v) for v in row.xyxy[0])
    return AnalyticsEvent(
        detail,
        rule_id,
        capture_time,
        int(row.tracker_id[0]),
        label,
        (x1, y1, x2, y2),
        float(row.confidence[0]),
    )

"""`EventMinter`: analytics results -> `oko.v1.Event`, with identity, order and provenance.

This is the one place where an event gets its globally unique id (UUIDv7), its per-camera
sequence number and the versions of the models that produced it, just before it is spooled.
Keeping it at this edge means the rules never deal with protobuf, and a sequence number is
only spent on an event that is really emitted, so the fleet can read gaps as losses.

Sequence numbers must keep increasing across restarts of the agent: the caller persists the
last one it minted (`next_sequence - 1`) and passes ``first_sequence`` on start.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, assert_never

from google.protobuf.timestamp_pb2 import Timestamp

from agent.events.ids import UuidV7Generator
from agent.events.types import (
    Abandoned,
    AbandonedCleared,
    AnalyticsEvent,
    EventKind,
    FaceShot,
    LineCrossed,
    Loitering,
    TrafficInterval,
    WrongWay,
    ZoneEnter,
    ZoneExit,
)
from proto.oko.v1 import events_pb2

_ZONE_KIND = {
    EventKind.ZONE_ENTER: events_pb2.ZoneEvent.KIND_ENTER,
    EventKind.ZONE_EXIT: events_pb2.ZoneEvent.KIND_EXIT,
    EventKind.LOITERING: events_pb2.ZoneEvent.KIND_LOITERING,
}
_DIRECTION = {
    "in": events_pb2.LineCrossing.DIRECTION_IN,
    "out": events_pb2.LineCrossing.DIRECTION_OUT,
}
_ENCODING = {"float16": events_pb2.Face.ENCODING_FLOAT16, "int8": events_pb2.Face.ENCODING_INT8}
_CONGESTION = {
    "free": events_pb2.TrafficFlow.CONGESTION_FREE,
    "moderate": events_pb2.TrafficFlow.CONGESTION_MODERATE,
    "heavy": events_pb2.TrafficFlow.CONGESTION_HEAVY,
    "jam": events_pb2.TrafficFlow.CONGESTION_JAM,
}


class ModelIdentity(Protocol):
    """Anything naming a model build, e.g. `agent.inference.manifest.ModelSpec`.

    Read-only members, so frozen dataclasses and properties qualify too.
    """

    @property
    def name(self) -> str:
        """The model's name as the manifest gives it."""

    @property
    def version(self) -> str:
        """The build's version string."""

    @property
    def sha256(self) -> str:
        """Hex digest of the model file: tells apart two builds with the same version."""


def timestamp(seconds: float) -> Timestamp:
    """Protobuf timestamp from float Unix seconds; refuses NaN/inf with a clear message."""
    if not math.isfinite(seconds):
        raise ValueError(f"capture time must be a finite number of seconds, got {seconds}")
    # Split before scaling: seconds * 1e9 would round away sub-microsecond digits of a
    # value like 1700000001.25 that float64 holds exactly.
    whole = math.floor(seconds)
    nanos = round((seconds - whole) * 1e9)
    return Timestamp(seconds=whole + nanos // 1_000_000_000, nanos=nanos % 1_000_000_000)


def _finite(value: float | None) -> float:
    """Wire floats are NaN-free: a missing or non-finite figure is sent as 0."""
    v = float(value) if value is not None else 0.0
    return v if math.isfinite(v) else 0.0


class EventMinter:
    """Mints wire events for one camera. Not thread-safe: one minter per camera pipeline."""

    def __init__(
        self,
        camera_id: str,
        *,
        device_id: str = "",
        site: str = "",
        models: Sequence[ModelIdentity] = (),
        first_sequence: int = 1,
        new_id: Callable[[], object] | None = None,
    ) -> None:
        if not camera_id:
            raise ValueError("camera_id must not be empty")
        if first_sequence < 1:
            raise ValueError(f"first_sequence must be >= 1, got {first_sequence}")
        self.camera_id = camera_id
        self.device_id = device_id
        self.site = site
        self.models = tuple(models)
        self._next = first_sequence
        self._new_id = new_id or UuidV7Generator()

    @property
    def next_sequence(self) -> int:
        """The sequence number the next minted event gets; persist it minus one."""
        return self._next

    def mint_all(self, events: Iterable[AnalyticsEvent]) -> list[events_pb2.Event]:
        """`mint` each event in order, with the minter's default model list."""
        return [self.mint(e) for e in events]

    def mint(
        self, event: AnalyticsEvent, models: Sequence[ModelIdentity] | None = None
    ) -> events_pb2.Event:
        """One wire event. `models` overrides the minter's default model list."""
        msg = events_pb2.Event(
            device_id=self.device_id,
            camera_id=self.camera_id,
            capture_time=timestamp(event.capture_time),
            track_id=event.track_id,
            site=self.site,
            models=[
                events_pb2.ModelVersion(name=m.name, version=m.version, sha256=m.sha256)
                for m in (self.models if models is None else models)
            ],
        )
        if event.box is not None:
            x1, y1, x2, y2 = event.box
            msg.box.CopyFrom(events_pb2.Box(x1=x1, y1=y1, x2=x2, y2=y2))
        if event.confidence is not None:
            msg.confidence = event.confidence
        _fill_body(msg, event)
        # Only now, once the body converted cleanly, spend an id and a sequence number.
        msg.event_id = str(self._new_id())
        msg.sequence = self._next
        self._next += 1
        return msg


def _fill_body(msg: events_pb2.Event, e: AnalyticsEvent) -> None:
    match e.detail:
        case LineCrossed(direction=direction, direction_name=name):
            msg.line_crossing.CopyFrom(
                events_pb2.LineCrossing(
                    line_id=e.rule_id,
                    label=e.label,
                    direction=_DIRECTION[direction],
                    direction_name=name,
                )
            )
        case ZoneEnter() | ZoneExit() | Loitering() as visit:
            msg.zone.CopyFrom(
                events_pb2.ZoneEvent(
                    zone_id=e.rule_id,
                    label=e.label,
                    kind=_ZONE_KIND[visit.kind],
                    dwell_seconds=_finite(visit.dwell_seconds),
                    occupancy=int(visit.occupancy),
                )
            )
        case TrafficInterval() as flow:
            msg.traffic_flow.CopyFrom(_traffic(e.rule_id, flow))
        case WrongWay(speed_kmh=speed):
            msg.wrong_way.CopyFrom(events_pb2.WrongWay(line_id=e.rule_id, label=e.label))
            if speed is not None:
                msg.wrong_way.speed_kmh = _finite(speed)
        case Abandoned() | AbandonedCleared() as item:
            msg.abandoned_object.CopyFrom(_abandoned(e.label, item))
        case FaceShot() as face:
            msg.face.CopyFrom(_face(face))
        case unknown:  # mypy proves this unreachable; a new detail type must be added above
            assert_never(unknown)


def _abandoned(label: str, item: Abandoned | AbandonedCleared) -> events_pb2.AbandonedObject:
    cleared = item if isinstance(item, AbandonedCleared) else None
    return events_pb2.AbandonedObject(
        label=label,
        state=(
            events_pb2.AbandonedObject.STATE_ALERT
            if cleared is None
            else events_pb2.AbandonedObject.STATE_CLEARED
        ),
        owner_track_id=int(item.owner_track_id),
        stationary_seconds=_finite(item.stationary_seconds),
        unattended_seconds=_finite(item.unattended_seconds),
        alerted_seconds=_finite(None if cleared is None else cleared.alerted_seconds),
    )


def _traffic(line_id: str, p: TrafficInterval) -> events_pb2.TrafficFlow:
    lanes = int(p.lanes)
    return events_pb2.TrafficFlow(
        line_id=line_id,
        interval_start=timestamp(float(p.interval_start)),
        interval_seconds=_finite(p.interval_seconds),
        counts={str(k): int(v) for k, v in p.counts.items()},
        mean_speed_kmh=_finite(p.mean_speed_kmh),
        speed_samples=int(p.speed_samples),
        density_per_km=_finite(p.density_per_km_lane) * lanes,
        congestion=_CONGESTION[p.congestion],
        count_in=int(p.count_in),
        count_out=int(p.count_out),
        wrong_way_count=int(p.wrong_way),
        speeding_count=int(p.speeding),
        observed_seconds=_finite(p.observed_seconds),
        lanes=lanes,
    )


def _face(p: FaceShot) -> events_pb2.Face:
    """Embedding and quality only: the aligned shot image stays on the box."""
    x1, y1, x2, y2 = p.face_box
    return events_pb2.Face(
        embedding=bytes(p.embedding),
        encoding=_ENCODING[p.encoding],
        dimensions=int(p.dimensions),
        embedder=events_pb2.ModelVersion(
            name=p.embedder.name, version=p.embedder.version, sha256=p.embedder.sha256
        ),
        quality=_finite(p.quality),
        detector_score=_finite(p.detector_score),
        face_box=events_pb2.Box(x1=x1, y1=y1, x2=x2, y2=y2),
    )

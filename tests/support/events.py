"""Build realistic `oko.v1.Event` messages for spool and uplink tests and benches."""

from __future__ import annotations

import uuid

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from proto.oko.v1 import events_pb2

KINDS = ("line_crossing", "zone", "traffic_flow", "wrong_way", "abandoned_object", "face")


def make_event(
    camera_id: str,
    sequence: int,
    kind: str = "line_crossing",
    device_id: str = "",
    embedding_bytes: int = 1024,
    *,
    site: str = "",
) -> events_pb2.Event:
    """One event of `kind` with fields filled the way the pipeline fills them."""
    stamp = Timestamp()
    stamp.FromNanoseconds(1_700_000_000_000_000_000 + sequence * 200_000_000)
    event = events_pb2.Event(
        event_id=str(uuid.uuid4()),
        device_id=device_id,
        camera_id=camera_id,
        sequence=sequence,
        capture_time=stamp,
        track_id=sequence % 97,
        box=events_pb2.Box(x1=10.5, y1=20.25, x2=110.0, y2=300.75),
        confidence=0.83,
        models=[events_pb2.ModelVersion(name="nanodet-m", version="1.0.0", sha256="ab" * 32)],
        site=site,  # the fleet refuses a site other than the box's enrolled one
    )
    if kind == "line_crossing":
        event.line_crossing.line_id = "gate-a"
        event.line_crossing.label = "person"
        event.line_crossing.direction = events_pb2.LineCrossing.DIRECTION_IN
    elif kind == "zone":
        event.zone.zone_id = "platform"
        event.zone.label = "person"
        event.zone.kind = events_pb2.ZoneEvent.KIND_ENTER
        event.zone.occupancy = 3
    elif kind == "traffic_flow":
        event.traffic_flow.line_id = "lane-1"
        event.traffic_flow.interval_seconds = 60.0
        event.traffic_flow.counts["car"] = 12
        event.traffic_flow.counts["truck"] = 2
        event.traffic_flow.mean_speed_kmh = 43.5
    elif kind == "wrong_way":
        event.wrong_way.line_id = "lane-1"
        event.wrong_way.label = "car"
    elif kind == "abandoned_object":
        event.abandoned_object.label = "suitcase"
        event.abandoned_object.state = events_pb2.AbandonedObject.STATE_ALERT
        event.abandoned_object.owner_track_id = -1
        event.abandoned_object.stationary_seconds = 95.0
    elif kind == "face":
        # A real embedding is an L2-normalised float vector: near-random bits, poorly
        # compressible, which matters for the bandwidth figures.
        vector = np.random.default_rng(sequence).standard_normal(embedding_bytes // 2)
        event.face.embedding = (vector / np.linalg.norm(vector)).astype("<f2").tobytes()
        event.face.encoding = events_pb2.Face.ENCODING_FLOAT16
        event.face.dimensions = embedding_bytes // 2
        event.face.quality = 0.7
    else:
        raise ValueError(f"unknown event kind {kind!r}; one of {KINDS}")
    return event


def make_events(
    camera_id: str, count: int, kind: str = "line_crossing", start: int = 1
) -> list[events_pb2.Event]:
    """`count` consecutive events of one camera, sequence numbers from `start`."""
    return [make_event(camera_id, start + i, kind) for i in range(count)]

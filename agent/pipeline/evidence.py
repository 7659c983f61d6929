"""Answers the fleet's requests for an alert's face shot, from the cameras' shot stores.

Face images never leave the box on their own. When the fleet raises a watchlist alert it
sends an `EvidenceRequest` naming the camera, track and face event; this responder looks
the shot up in that camera's `FaceShotStore` and answers with the JPEG, or with the reason
it cannot (the camera keeps no shots, the shot is past retention and was deleted, it is
larger than the fleet accepts). Each answer is logged with the alert id, so the box's own
log shows every image that left it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from google.protobuf.timestamp_pb2 import Timestamp

from agent.faces.shots import FaceShotStore, ShotUnavailableError, StoredShot
from agent.uplink.uplink_metrics import AgentMetrics
from proto.oko.v1 import watchlists_pb2 as pb

log = logging.getLogger(__name__)

#: The shot store of a camera by id (None: no such camera, or it keeps no shots).
ShotsOf = Callable[[str], FaceShotStore | None]


class EvidenceResponder:
    """`answer` is the uplink's evidence handler; it runs on a worker thread (file I/O)."""

    def __init__(self, shots_of: ShotsOf, metrics: AgentMetrics | None = None) -> None:
        self._shots_of = shots_of
        self._metrics = metrics

    def answer(self, request: pb.EvidenceRequest) -> pb.Evidence:
        """The JPEG of the requested shot, or UNAVAILABLE with the reason; never raises."""
        reply = pb.Evidence(
            request_id=request.request_id,
            camera_id=request.camera_id,
            track_id=request.track_id,
            face_event_id=request.face_event_id,
        )
        try:
            shot = self._load(request)
        except ShotUnavailableError as err:
            reply.status = pb.Evidence.STATUS_UNAVAILABLE
            reply.reason = str(err)
            self._count("unavailable")
            log.info("evidence for alert %s not sent: %s", request.alert_id, err)
            return reply
        reply.status = pb.Evidence.STATUS_OK
        reply.jpeg = shot.jpeg
        stamp = Timestamp()
        stamp.FromNanoseconds(int(shot.written_at * 1e9))
        reply.captured_at.CopyFrom(stamp)
        self._count("sent")
        log.info(
            "evidence for alert %s sent to the fleet: face shot of camera %s track %s "
            "(event %s, %d bytes)",
            request.alert_id,
            request.camera_id,
            request.track_id,
            request.face_event_id,
            len(shot.jpeg),
        )
        return reply

    def _load(self, request: pb.EvidenceRequest) -> StoredShot:
        shots = self._shots_of(request.camera_id)
        if shots is None:
            raise ShotUnavailableError(f"camera {request.camera_id!r} keeps no face shots here")
        shot = shots.load(request.face_event_id)
        if request.max_bytes and len(shot.jpeg) > request.max_bytes:
            raise ShotUnavailableError(
                f"shot is {len(shot.jpeg)} bytes, the fleet accepts at most {request.max_bytes}"
            )
        return shot

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.evidence.labels(outcome).inc()

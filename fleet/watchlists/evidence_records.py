"""What the fleet keeps about an alert's evidence image: plain frozen records, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fleet.watchlists.records import AlertRecord

#: Evidence states (the store's text; the wire enum is `EvidenceState`).
PENDING = "pending"  # asked for, or waiting for the box to reconnect
PRESENT = "present"  # the box's JPEG is kept with the alert
UNAVAILABLE = "unavailable"  # the box no longer has it, or sent something invalid


@dataclass(frozen=True)
class EvidenceRequestRecord:
    """One alert's request for the best shot of its track, as sent to the box."""

    request_id: str
    alert_id: str
    device_id: str
    camera_id: str
    track_id: int
    face_event_id: str
    requested_us: int


def request_for(alert: AlertRecord) -> EvidenceRequestRecord:
    """A new alert's request for the best shot of its track (kept with it, atomically)."""
    return EvidenceRequestRecord(
        request_id=uuid.uuid4().hex,
        alert_id=alert.alert_id,
        device_id=alert.device_id,
        camera_id=alert.camera_id,
        track_id=alert.track_id,
        face_event_id=alert.face_event_id,
        requested_us=alert.raised_us,
    )


@dataclass(frozen=True)
class EvidenceAnswer:
    """What the fleet records when the box answered: the image, or why there is none."""

    state: str  # PRESENT | UNAVAILABLE
    reason: str
    received_us: int
    jpeg: bytes = b""
    sha256: str = ""
    width: int = 0
    height: int = 0
    captured_us: int = 0
    refused: bool = False  # the fleet's checks refused what the box sent (not stored)


@dataclass(frozen=True)
class EvidenceMeta:
    """Everything about an alert's evidence but the image bytes."""

    request: EvidenceRequestRecord
    state: str
    reason: str = ""
    received_us: int = 0
    captured_us: int = 0
    width: int = 0
    height: int = 0
    sha256: str = ""
    size_bytes: int = 0

    @property
    def alert_id(self) -> str:
        """The alert this evidence belongs to (and is purged with)."""
        return self.request.alert_id

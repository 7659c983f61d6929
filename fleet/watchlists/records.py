"""What the watchlist store keeps: plain frozen records, no I/O, no numpy."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Alert states (the store's text; the wire enum is `WatchlistAlert.State`).
CANDIDATE = "candidate"
CONFIRMED = "confirmed"
REJECTED = "rejected"
#: Decision kinds.
CONFIRM = "confirm"
REJECT = "reject"


@dataclass(frozen=True)
class EmbedderKey:
    """Which embedder made a template or a face event's vector: galleries are kept per key."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class WatchlistRecord:
    """A watchlist: where it applies and how strict its matching is."""

    name: str
    site: str
    threshold: float
    top_k: int
    description: str
    created_us: int
    created_by: str


@dataclass(frozen=True)
class Template:
    """One enrolment photo's unit vector (float32 little-endian bytes) for one embedder."""

    subject_id: str
    embedder: EmbedderKey
    photo_index: int
    dimensions: int
    vector: bytes


@dataclass(frozen=True)
class EnrolPhoto:
    """A stored enrolment photo (kept to re-embed the gallery when a new embedder rolls out)."""

    subject_id: str
    photo_index: int
    filename: str
    sha256: str
    data: bytes
    quality: float
    face_width_px: float
    sharpness: float
    pose: float
    detector_score: float


@dataclass(frozen=True)
class SubjectRecord:
    """A person on a watchlist; photos and templates are filled where asked."""

    subject_id: str
    watchlist: str
    name: str
    reason: str
    expires_us: int  # 0 = never
    created_us: int
    created_by: str
    photos: tuple[EnrolPhoto, ...] = ()
    templates: tuple[Template, ...] = ()

    def active(self, now_us: int) -> bool:
        """Expired subjects stop matching at once, whether or not anything purged them."""
        return self.expires_us == 0 or self.expires_us > now_us


@dataclass(frozen=True)
class GalleryRow:
    """One template with what matching needs of its subject and watchlist."""

    template: Template
    watchlist: WatchlistRecord
    subject_name: str
    expires_us: int


@dataclass(frozen=True)
class DecisionRecord:
    """One operator's confirm or reject of an alert."""

    kind: str  # CONFIRM | REJECT
    actor: str
    actor_token_id: str
    note: str
    at_us: int


@dataclass(frozen=True)
class AlertRecord:
    """A face event that matched a subject; `state` moves by operators' decisions."""

    alert_id: str
    state: str
    watchlist: str
    subject_id: str
    subject_name: str
    score: float
    face_event_id: str
    device_id: str
    camera_id: str
    site: str
    track_id: int
    raised_us: int
    decisions: tuple[DecisionRecord, ...] = field(default=())


@dataclass(frozen=True)
class AlertQuery:
    """Which alerts `list_alerts` returns."""

    state: str = ""  # "" = every state
    watchlist: str = ""
    limit: int = 100


@dataclass(frozen=True)
class AuditRow:
    """An audit entry as stored, with its place and hashes."""

    seq: int
    at_us: int
    actor: str
    action: str
    target: str
    detail: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditQuery:
    """Which audit entries `list_audit` returns."""

    after_seq: int = 0
    limit: int = 500
    since_us: int = 0
    actor: str = ""
    action: str = ""  # exact, or a prefix ending in "."


@dataclass(frozen=True)
class Checkpoint:
    """The audit chain's head at `seq`, signed with the fleet key."""

    seq: int
    head_hash: str
    at_us: int
    signature: bytes
    public_key: bytes

"""Watchlist records <-> `proto/oko/v1/watchlists.proto` messages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from fleet.services.convert import ts
from fleet.watchlists.decisions import confirmations_needed
from fleet.watchlists.evidence_records import PENDING, PRESENT, UNAVAILABLE, EvidenceMeta
from fleet.watchlists.records import (
    CANDIDATE,
    CONFIRM,
    CONFIRMED,
    REJECT,
    REJECTED,
    AlertRecord,
    AuditRow,
    Checkpoint,
    EmbedderKey,
    SubjectRecord,
    Template,
    WatchlistRecord,
)
from proto.oko.v1 import watchlists_pb2 as pb

STATES = {
    CANDIDATE: pb.WatchlistAlert.STATE_CANDIDATE,
    CONFIRMED: pb.WatchlistAlert.STATE_CONFIRMED,
    REJECTED: pb.WatchlistAlert.STATE_REJECTED,
}
STATE_NAMES = {v: k for k, v in STATES.items()}
DECISIONS = {CONFIRM: pb.AlertDecision.KIND_CONFIRM, REJECT: pb.AlertDecision.KIND_REJECT}
DECISION_NAMES = {v: k for k, v in DECISIONS.items()}
EVIDENCE_STATES = {
    PENDING: pb.EVIDENCE_STATE_PENDING,
    PRESENT: pb.EVIDENCE_STATE_PRESENT,
    UNAVAILABLE: pb.EVIDENCE_STATE_UNAVAILABLE,
}


def galleries(templates: Sequence[Template]) -> list[pb.Gallery]:
    """Template counts per embedder (name, version)."""
    counts = Counter(t.embedder for t in templates)
    dims: dict[EmbedderKey, int] = {t.embedder: t.dimensions for t in templates}
    return [
        pb.Gallery(
            embedder_name=k.name, embedder_version=k.version, templates=n, dimensions=dims[k]
        )
        for k, n in sorted(counts.items(), key=lambda kv: str(kv[0]))
    ]


def watchlist(w: WatchlistRecord, subjects: Sequence[SubjectRecord], now_us: int) -> pb.Watchlist:
    """A watchlist with its active subject count and its galleries."""
    return pb.Watchlist(
        name=w.name,
        site=w.site,
        threshold=w.threshold,
        top_k=w.top_k,
        description=w.description,
        created_at=ts(w.created_us),
        created_by=w.created_by,
        subjects=sum(s.active(now_us) for s in subjects),
        galleries=galleries([t for s in subjects for t in s.templates]),
    )


def subject(s: SubjectRecord) -> pb.Subject:
    """A subject with its photos' measured quality (never the photos themselves)."""
    return pb.Subject(
        subject_id=s.subject_id,
        watchlist=s.watchlist,
        name=s.name,
        reason=s.reason,
        expires_at=ts(s.expires_us),
        created_at=ts(s.created_us),
        created_by=s.created_by,
        photos=len(s.photos) or len({t.photo_index for t in s.templates}),
        galleries=galleries(s.templates),
        photo_quality=[
            pb.PhotoQuality(
                filename=p.filename,
                quality=p.quality,
                face_width_px=p.face_width_px,
                sharpness=p.sharpness,
                pose=p.pose,
                detector_score=p.detector_score,
            )
            for p in s.photos
        ],
    )


def alert(
    a: AlertRecord, change: int = 0, evidence: EvidenceMeta | None = None
) -> pb.WatchlistAlert:
    """An alert with all its decisions and its evidence state; `change` is set on the stream."""
    return pb.WatchlistAlert(
        alert_id=a.alert_id,
        state=STATES[a.state],
        watchlist=a.watchlist,
        subject_id=a.subject_id,
        subject_name=a.subject_name,
        score=a.score,
        face_event_id=a.face_event_id,
        device_id=a.device_id,
        camera_id=a.camera_id,
        site=a.site,
        track_id=a.track_id,
        raised_at=ts(a.raised_us),
        decisions=[
            pb.AlertDecision(
                kind=DECISIONS[d.kind],
                actor=d.actor,
                actor_token_id=d.actor_token_id,
                note=d.note,
                at=ts(d.at_us),
            )
            for d in a.decisions
        ],
        confirmations_needed=confirmations_needed(a),
        change=change,  # type: ignore[arg-type]
        evidence=EVIDENCE_STATES[evidence.state] if evidence else pb.EVIDENCE_STATE_UNSPECIFIED,
        evidence_reason=evidence.reason if evidence else "",
    )


def alert_evidence(alert_id: str, meta: EvidenceMeta | None, jpeg: bytes = b"") -> pb.AlertEvidence:
    """An alert's evidence as GetAlertEvidence returns it (the image only when present)."""
    if meta is None:
        return pb.AlertEvidence(alert_id=alert_id, state=pb.EVIDENCE_STATE_UNSPECIFIED)
    r = meta.request
    return pb.AlertEvidence(
        alert_id=alert_id,
        state=EVIDENCE_STATES[meta.state],
        reason=meta.reason,
        jpeg=jpeg,
        width=meta.width,
        height=meta.height,
        sha256=meta.sha256,
        requested_at=ts(r.requested_us),
        received_at=ts(meta.received_us),
        captured_at=ts(meta.captured_us),
        device_id=r.device_id,
        camera_id=r.camera_id,
        track_id=r.track_id,
        face_event_id=r.face_event_id,
    )


def audit_record(r: AuditRow) -> pb.AuditRecord:
    """One audit entry with its hashes, exactly as chained."""
    return pb.AuditRecord(
        seq=r.seq,
        at=ts(r.at_us),
        at_us=r.at_us,
        actor=r.actor,
        action=r.action,
        target=r.target,
        detail=r.detail,
        prev_hash=r.prev_hash,
        hash=r.hash,
    )


def audit_row(m: pb.AuditRecord) -> AuditRow:
    """Inverse of `audit_record`, for verifying downloaded entries."""
    return AuditRow(m.seq, m.at_us, m.actor, m.action, m.target, m.detail, m.prev_hash, m.hash)


def checkpoint(c: Checkpoint, key_id: str) -> pb.AuditCheckpoint:
    """A signed chain head as sent to auditors."""
    return pb.AuditCheckpoint(
        seq=c.seq,
        head_hash=c.head_hash,
        at_us=c.at_us,
        signature=c.signature,
        public_key=c.public_key,
        key_id=key_id,
    )


def checkpoint_of(m: pb.AuditCheckpoint) -> Checkpoint:
    """Inverse of `checkpoint`."""
    return Checkpoint(m.seq, m.head_hash, m.at_us, m.signature, m.public_key)

"""WatchlistService: watchlists, subjects, alerts with two-operator decisions, audit log.

Contracts in proto/oko/v1/watchlists.proto. Every change, listing and alert view is
appended to the audit log with the caller's token name; each subject or watchlist change
reloads the matcher's galleries before the call returns, so a removed or added subject
takes effect for the next face.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import replace

import grpc

from fleet.app import FleetApp
from fleet.auth import Principal, Role
from fleet.errors import InvalidRequestError
from fleet.services.common import Context, Guarded, guarded
from fleet.services.convert import us_of
from fleet.watchlists import wire
from fleet.watchlists.enrol import PhotoRefusedError
from fleet.watchlists.evidence_records import PRESENT
from fleet.watchlists.records import (
    AlertQuery,
    AlertRecord,
    AuditQuery,
    DecisionRecord,
    EnrolPhoto,
    SubjectRecord,
    Template,
    WatchlistRecord,
)
from fleet.watchlists.runtime import Watchlists
from proto.oko.v1 import watchlists_pb2 as pb
from proto.oko.v1 import watchlists_pb2_grpc

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
#: Cosine similarity a match needs unless the watchlist says otherwise. Re-measured with the
#: boxes' chain (CenterFace 5-point alignment + FaceRes) on 32 real identities
#: (bench/face_identity.py, docs/faces.md): faces a box sends score 0.70-0.99 against the
#: same person's large face (p1 0.77), impostors up to 0.73 (p99 0.67); at 0.75 none of 62
#: probes alerted a wrong person and 61 found their own, at 0.70 5 % alerted a wrong one.
#: Genuine pairs from different photographs were not available: the accept rate of a real
#: watchlist at 0.75 is unmeasured; set --threshold per watchlist once it is.
DEFAULT_THRESHOLD = 0.75
DEFAULT_TOP_K = 3
MAX_TOP_K = 100
MAX_PHOTOS = 10
MAX_TEXT = 500
MAX_ALERTS = 1000
MAX_AUDIT = 5000


def _now_us() -> int:
    return time.time_ns() // 1000


def _text(value: str, field: str, required: bool = True, limit: int = MAX_TEXT) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidRequestError(f"{field} is required")
    if len(value) > limit:
        raise InvalidRequestError(f"{field} must be at most {limit} characters")
    return value


def _watchlist_record(request: pb.CreateWatchlistRequest, who: Principal) -> WatchlistRecord:
    if not NAME.match(request.name):
        raise InvalidRequestError("name must match [a-z0-9][a-z0-9_.-]{0,63}")
    threshold = request.threshold or DEFAULT_THRESHOLD
    if not 0.0 < threshold <= 1.0:
        raise InvalidRequestError("threshold must be in (0, 1] (cosine similarity)")
    top_k = request.top_k or DEFAULT_TOP_K
    if top_k > MAX_TOP_K:
        raise InvalidRequestError(f"top_k must be at most {MAX_TOP_K}")
    return WatchlistRecord(
        name=request.name,
        site=_text(request.site, "site", required=False, limit=128),
        threshold=float(threshold),
        top_k=int(top_k),
        description=_text(request.description, "description", required=False),
        created_us=_now_us(),
        created_by=who.name,
    )


class WatchlistServicer(Guarded, watchlists_pb2_grpc.WatchlistServiceServicer):
    """The RPCs of WatchlistService; roles are noted in the .proto."""

    def __init__(self, app: FleetApp, watchlists: Watchlists) -> None:
        self.app = app
        self.access = app.access
        self.wl = watchlists

    async def _audit(self, who: Principal, action: str, target: str, detail: str = "") -> None:
        await self.app.audit(who.name, action, target, detail)

    # Watchlists -----------------------------------------------------------------------
    @guarded(Role.ADMIN)
    async def CreateWatchlist(  # noqa: N802
        self, request: pb.CreateWatchlistRequest, context: Context, who: Principal
    ) -> pb.Watchlist:
        """Create an empty watchlist."""
        record = _watchlist_record(request, who)
        await self.app.store.create_watchlist(record)
        detail = f"site={record.site!r} threshold={record.threshold} top_k={record.top_k}"
        await self._audit(who, "watchlist.create", record.name, detail)
        return wire.watchlist(record, [], _now_us())

    @guarded(Role.VIEWER)
    async def ListWatchlists(  # noqa: N802
        self, request: pb.ListWatchlistsRequest, context: Context, who: Principal
    ) -> pb.ListWatchlistsResponse:
        """Every watchlist with subject and template counts."""
        subjects = await self.app.store.list_subjects()
        now = _now_us()
        out = [
            wire.watchlist(w, [s for s in subjects if s.watchlist == w.name], now)
            for w in await self.app.store.list_watchlists()
        ]
        await self._audit(who, "watchlist.list", "*")
        return pb.ListWatchlistsResponse(watchlists=out)

    @guarded(Role.VIEWER)
    async def GetWatchlist(  # noqa: N802
        self, request: pb.GetWatchlistRequest, context: Context, who: Principal
    ) -> pb.Watchlist:
        """One watchlist with subject and template counts."""
        record = await self.app.store.get_watchlist(request.name)
        subjects = await self.app.store.list_subjects(request.name)
        await self._audit(who, "watchlist.view", request.name)
        return wire.watchlist(record, subjects, _now_us())

    @guarded(Role.ADMIN)
    async def DeleteWatchlist(  # noqa: N802
        self, request: pb.DeleteWatchlistRequest, context: Context, who: Principal
    ) -> pb.Watchlist:
        """Delete a watchlist with its subjects; matching stops before the call returns."""
        subjects = await self.app.store.list_subjects(request.name)
        record = await self.app.store.delete_watchlist(request.name)
        await self.wl.galleries_changed()
        await self._audit(who, "watchlist.delete", request.name, f"{len(subjects)} subjects")
        return wire.watchlist(record, subjects, _now_us())

    # Subjects -------------------------------------------------------------------------
    async def _enrol_all(self, request: pb.AddSubjectRequest, subject_id: str) -> SubjectRecord:
        """Enrol every photo; refuse the whole subject naming each refused photo."""
        photos, templates, refusals = [], [], []
        for index, photo in enumerate(request.photos):
            label = photo.filename or f"photo {index + 1}"
            try:
                got = await self.wl.enrol(photo.data)
            except PhotoRefusedError as err:
                refusals.append(f"{label}: {err}")
                continue
            photos.append(
                EnrolPhoto(
                    subject_id,
                    index,
                    label,
                    got.sha256,
                    photo.data,
                    got.quality,
                    got.face_width_px,
                    got.sharpness,
                    got.pose,
                    got.detector_score,
                )
            )
            templates.append(Template(subject_id, got.embedder, index, got.dimensions, got.vector))
        if refusals:
            raise InvalidRequestError("photo refused: " + "; ".join(refusals))
        expires = us_of(request.expires_at) if request.HasField("expires_at") else 0
        if expires and expires <= _now_us():
            raise InvalidRequestError("expires_at is in the past")
        return SubjectRecord(
            subject_id=subject_id,
            watchlist=request.watchlist,
            name=_text(request.name, "name", limit=128),
            reason=_text(request.reason, "reason"),
            expires_us=expires,
            created_us=_now_us(),
            created_by="",
            photos=tuple(photos),
            templates=tuple(templates),
        )

    @guarded(Role.OPERATOR)
    async def AddSubject(  # noqa: N802
        self, request: pb.AddSubjectRequest, context: Context, who: Principal
    ) -> pb.Subject:
        """Enrol a subject from photos; all photos must pass or nothing is stored."""
        await self.app.store.get_watchlist(request.watchlist)  # unknown -> NOT_FOUND first
        _text(request.name, "name", limit=128)
        _text(request.reason, "reason")
        if not 0 < len(request.photos) <= MAX_PHOTOS:
            raise InvalidRequestError(f"photos: give 1..{MAX_PHOTOS} photos")
        made = await self._enrol_all(request, uuid.uuid4().hex[:16])
        subject = replace(made, created_by=who.name)
        await self.app.store.add_subject(subject)
        await self.wl.galleries_changed()
        detail = f"watchlist {subject.watchlist} name {subject.name!r} photos {len(subject.photos)}"
        await self._audit(who, "subject.add", subject.subject_id, detail)
        return wire.subject(subject)

    @guarded(Role.VIEWER)
    async def ListSubjects(  # noqa: N802
        self, request: pb.ListSubjectsRequest, context: Context, who: Principal
    ) -> pb.ListSubjectsResponse:
        """Subjects of a watchlist (all when none is named)."""
        subjects = await self.app.store.list_subjects(request.watchlist)
        await self._audit(who, "subject.list", request.watchlist or "*")
        return pb.ListSubjectsResponse(subjects=[wire.subject(s) for s in subjects])

    @guarded(Role.VIEWER)
    async def GetSubject(  # noqa: N802
        self, request: pb.GetSubjectRequest, context: Context, who: Principal
    ) -> pb.Subject:
        """One subject with the measured quality of each enrolment photo."""
        subject = await self.app.store.get_subject(request.subject_id)
        await self._audit(who, "subject.view", request.subject_id)
        return wire.subject(subject)

    @guarded(Role.OPERATOR)
    async def RemoveSubject(  # noqa: N802
        self, request: pb.RemoveSubjectRequest, context: Context, who: Principal
    ) -> pb.Subject:
        """Remove a subject; it stops matching before the call returns."""
        subject = await self.app.store.remove_subject(request.subject_id)
        await self.wl.galleries_changed()
        await self._audit(who, "subject.remove", subject.subject_id, f"name {subject.name!r}")
        return wire.subject(subject)

    # Alerts ---------------------------------------------------------------------------
    @guarded(Role.VIEWER)
    async def ListAlerts(  # noqa: N802
        self, request: pb.ListAlertsRequest, context: Context, who: Principal
    ) -> pb.ListAlertsResponse:
        """Alerts newest first, by state and watchlist."""
        limit = request.limit or 100
        if limit > MAX_ALERTS:
            raise InvalidRequestError(f"limit must be at most {MAX_ALERTS}")
        state = wire.STATE_NAMES.get(request.state, "")
        query = AlertQuery(state=state, watchlist=request.watchlist, limit=limit)
        alerts = await self.app.store.list_alerts(query)
        evidence = await self.app.store.evidence_meta([a.alert_id for a in alerts])
        await self._audit(who, "alert.list", request.watchlist or "*", f"state={state or 'any'}")
        return pb.ListAlertsResponse(
            alerts=[wire.alert(a, evidence=evidence.get(a.alert_id)) for a in alerts]
        )

    @guarded(Role.VIEWER)
    async def GetAlert(  # noqa: N802
        self, request: pb.GetAlertRequest, context: Context, who: Principal
    ) -> pb.WatchlistAlert:
        """One alert with its decisions; the view is audited."""
        alert = await self.app.store.get_alert(request.alert_id)
        evidence = await self.app.store.evidence_meta([alert.alert_id])
        await self._audit(who, "alert.view", request.alert_id)
        return wire.alert(alert, evidence=evidence.get(alert.alert_id))

    @guarded(Role.VIEWER)
    async def GetAlertEvidence(  # noqa: N802
        self, request: pb.GetAlertEvidenceRequest, context: Context, who: Principal
    ) -> pb.AlertEvidence:
        """The box's image of an alert's face, if the fleet has it; every call is audited."""
        alert = await self.app.store.get_alert(request.alert_id)  # unknown -> NOT_FOUND
        found = await self.app.store.get_alert_evidence(alert.alert_id)
        meta = None
        if found is None:
            meta = (await self.app.store.evidence_meta([alert.alert_id])).get(alert.alert_id)
            if meta is not None and meta.state == PRESENT:
                # The image landed between the two reads: read it, never "present" without it.
                found = await self.app.store.get_alert_evidence(alert.alert_id)
        jpeg, meta = found or (b"", meta)
        state = meta.state if meta is not None else "none"
        detail = f"present sha256 {meta.sha256}" if found and meta else state
        self.wl.evidence.metrics.views.labels(state).inc()
        await self._audit(who, "evidence.view", alert.alert_id, detail)
        return wire.alert_evidence(alert.alert_id, meta, jpeg)

    @guarded(Role.OPERATOR)
    async def DecideAlert(  # noqa: N802
        self, request: pb.DecideAlertRequest, context: Context, who: Principal
    ) -> pb.WatchlistAlert:
        """Confirm or reject; the decision is durable, audited, then on the event stream."""
        kind = wire.DECISION_NAMES.get(request.kind)
        if kind is None:
            raise InvalidRequestError("kind must be KIND_CONFIRM or KIND_REJECT")
        alert = await decide_alert(
            self.app, self.wl, who, alert_id=request.alert_id, kind=kind, note=request.note
        )
        evidence = await self.app.store.evidence_meta([alert.alert_id])
        return wire.alert(alert, evidence=evidence.get(alert.alert_id))

    # Audit ----------------------------------------------------------------------------
    @guarded(Role.ADMIN)
    async def ListAudit(  # noqa: N802
        self, request: pb.ListAuditRequest, context: Context, who: Principal
    ) -> pb.ListAuditResponse:
        """One page of the audit log in chain order (listing it is not itself audited)."""
        limit = request.limit or 500
        if limit > MAX_AUDIT:
            raise InvalidRequestError(f"limit must be at most {MAX_AUDIT}")
        query = AuditQuery(
            after_seq=request.after_seq,
            limit=limit,
            since_us=us_of(request.since) if request.HasField("since") else 0,
            actor=request.actor,
            action=request.action,
        )
        rows = await self.app.store.list_audit(query)
        return pb.ListAuditResponse(
            records=[wire.audit_record(r) for r in rows],
            next_after_seq=rows[-1].seq if len(rows) == limit else 0,
        )

    @guarded(Role.ADMIN)
    async def GetCheckpoint(  # noqa: N802
        self, request: pb.GetCheckpointRequest, context: Context, who: Principal
    ) -> pb.AuditCheckpoint:
        """The newest signed head of the audit chain (signed now if the chain moved)."""
        await self._audit(who, "audit.checkpoint", "*")
        checkpoint = await self.wl.signer.checkpoint(self.app.store)
        if checkpoint is None:  # unreachable: the line above made the chain non-empty
            raise InvalidRequestError("the audit log is empty")
        return wire.checkpoint(checkpoint, self.wl.signer.key_id)


async def decide_alert(
    app: FleetApp, wl: Watchlists, who: Principal, *, alert_id: str, kind: str, note: str
) -> AlertRecord:
    """One operator's confirm or reject: durable, counted, audited, then on the event stream.

    The one way an alert is decided, for DecideAlert and the web console alike. Raises
    VersionConflictError when the alert is decided already or `who` decided it before.
    """
    decision = DecisionRecord(
        kind, who.name, who.token_id, _text(note, "note", required=False), _now_us()
    )
    alert = await app.store.decide_alert(alert_id, decision)
    wl.metrics.decisions.labels(kind).inc()
    await app.audit(who.name, f"alert.{kind}", alert.alert_id, f"now {alert.state}")
    await wl.publish_alert(alert, pb.WatchlistAlert.CHANGE_DECIDED)
    return alert


async def serve(app: FleetApp, server: grpc.aio.Server) -> Watchlists:
    """Start the watchlist runtime and register WatchlistService on `server`."""
    from fleet.services import galleries  # GalleryService shares the watchlist runtime

    watchlists = await Watchlists.start(app)
    servicer = WatchlistServicer(app, watchlists)
    watchlists_pb2_grpc.add_WatchlistServiceServicer_to_server(servicer, server)
    galleries.register(app, watchlists, server)
    return watchlists

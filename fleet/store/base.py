"""The one storage interface of the fleet.

SQLite is the embedded default; PostgreSQL will implement the same protocol, which is why
every method is async (a network database must not block the event loop) and every
multi-row change is one method (one transaction).

Contract every implementation keeps:
* `ingest` commits all batches it is given in one durable transaction before returning
  (the caller acknowledges afterwards), stores each event_id at most once, and assigns
  cursors that increase strictly in commit order and are never reused.
* Methods raise only `fleet.errors` exceptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol

from fleet.models.records import Assignment, ModelReportRecord, ModelVersion, SigningKeyRecord
from fleet.rollouts.records import LatencySample, Rollout, RolloutDevice
from fleet.store.cert_records import CertIssue, CertMatch, CertSummary, ReissueRequest
from fleet.store.records import (
    ApiToken,
    AuditEntry,
    CameraStatus,
    ConfigDoc,
    DeadLetter,
    DeadLetterQuery,
    Device,
    DeviceHealth,
    EnrollmentToken,
    EventQuery,
    IngestCommit,
    NewEvent,
    PurgeRule,
    PurgeStep,
    ReplayRecord,
    StateReportRecord,
    StoredEvent,
    StoreStats,
    Webhook,
    WebhookProgress,
)
from fleet.watchlists.evidence_records import (
    EvidenceAnswer,
    EvidenceMeta,
    EvidenceRequestRecord,
)
from fleet.watchlists.records import (
    AlertQuery,
    AlertRecord,
    AuditQuery,
    AuditRow,
    Checkpoint,
    DecisionRecord,
    EmbedderKey,
    GalleryRow,
    SubjectRecord,
    Template,
    WatchlistRecord,
)


class Store(Protocol):
    """Fleet registry + event store."""

    description: str

    async def close(self) -> None:
        """Finish pending writes and release connections; the store is unusable afterwards."""

    # Events.
    async def ingest(self, batches: Sequence[Sequence[NewEvent]], received_us: int) -> IngestCommit:
        """Store new events of all batches atomically; duplicates are counted, not stored."""

    async def read_events(self, query: EventQuery) -> list[StoredEvent]:
        """Events after `query.after_cursor` that match it, in cursor order, at most `limit`.

        Subscribers page with this: the last cursor returned is the next call's start.
        With `newest_first` the order is descending and `before_cursor` bounds it above.
        """

    async def stats(self) -> StoreStats:
        """Counts for `/metrics` and `okoctl status`; each read may be a moment apart."""

    async def last_cursor(self) -> int:
        """Cursor of the newest committed event (0 if none ever)."""

    async def purge_events(self, rule: PurgeRule, before_us: int, limit: int) -> PurgeStep:
        """Delete up to `limit` events of `rule`'s types received before `before_us`.

        One short transaction: the retention task repeats it until `done`, so ingest
        commits run between the steps. Cursors of what remains never change, and
        deleted cursors are never handed out again.
        """

    async def purge_alerts(self, before_us: int, limit: int) -> int:
        """Delete up to `limit` alerts raised before `before_us`, with decisions and evidence.

        One transaction; returns how many. Fewer than `limit` means none older is left.
        """

    # Tokens.
    async def add_api_token(self, token: ApiToken) -> None:
        """Keep an API token (only its secret's hash); a duplicate id is a StoreError."""

    async def get_api_token(self, token_id: str) -> ApiToken | None:
        """The token with this id, or None; the caller compares the secret's hash."""

    async def count_api_tokens(self) -> int:
        """How many API tokens exist; zero means the fleet still needs its first admin."""

    async def list_api_tokens(self) -> list[ApiToken]:
        """Every API token, for `okoctl token list` (hashes only, never secrets)."""

    async def delete_api_token(self, token_id: str) -> ApiToken | None:
        """Revoke: the token is refused from now on; returns what was removed, if any."""

    async def add_enrollment_token(self, token: EnrollmentToken) -> None:
        """Keep a one-use enrollment token (only its secret's hash)."""

    async def get_enrollment_token(self, token_id: str) -> EnrollmentToken | None:
        """The enrollment token with this id, or None."""

    async def list_enrollment_tokens(self) -> list[EnrollmentToken]:
        """Every enrollment token, used or not, for the operator's listing."""

    # Devices.
    async def enroll_device(self, token_id: str, secret_hash: str, device: Device) -> Device:
        """Spend the token and create the device in one transaction.

        Raises UnauthenticatedError (and writes nothing) unless the token exists, its hash
        matches, it is unused and `device.enrolled_us` is before its expiry.
        """

    async def get_device(self, device_id: str) -> Device | None:
        """The device with this id, or None."""

    async def get_device_by_serial(self, serial: str) -> Device | None:
        """The device whose client certificate has this serial: how a stream is identified."""

    async def list_devices(self, site: str = "") -> list[Device]:
        """Devices of one site, or of every site when `site` is empty."""

    async def revoked_serials(self) -> set[str]:
        """Certificate serials of revoked devices, loaded once at start into the deny list."""

    async def revoke_device(self, device_id: str, reason: str, at_us: int) -> Device:
        """Mark the device revoked and return it; NotFoundError if there is no such device."""

    async def record_hello(self, device_id: str, agent_version: str, at_us: int) -> None:
        """Note a connecting agent's version and the time it was last seen."""

    # Device certificates after enrollment (renewal, reissue).
    async def device_by_certificate(self, serial: str) -> CertMatch | None:
        """The device presenting this serial: its newest certificate or the one in grace."""

    async def certificate_first_used(self, device_id: str, serial: str, at_us: int) -> bool:
        """The box presented its newest certificate: the older one is no longer accepted.

        False (and nothing changed) if `serial` is not the device's newest certificate.
        """

    async def renew_certificate(self, presented_serial: str, issue: CertIssue) -> Device:
        """Make `issue` the device's newest certificate in one transaction.

        The certificate the box presented stays accepted until the box first uses the new
        one or it expires. PermissionDeniedError for a revoked device, NotFoundError for
        an unknown one, UnauthenticatedError if `presented_serial` is no longer accepted.
        """

    async def add_reissue_token(self, token: EnrollmentToken, device_id: str) -> None:
        """Store an enrollment token bound to an existing device (PermissionDenied if revoked)."""

    async def reissue_binding(self, token_id: str) -> str | None:
        """The device an enrollment token is bound to, or None for an ordinary token."""

    async def reissue_device(self, request: ReissueRequest) -> Device:
        """Spend a reissue token and install its certificate; every older one becomes void.

        Raises (and writes nothing) like `enroll_device` for a bad token, and
        PermissionDeniedError if the device was revoked since the token was minted.
        """

    async def certificate_summaries(self, device_id: str = "") -> dict[str, CertSummary]:
        """Renewals, last issue and pending serial by device id (one device, or all)."""

    async def active_certificate_expiries(self) -> list[int]:
        """Certificate expiry (us) of every device not revoked, for the expiry gauges."""

    async def record_health(self, device_id: str, health: DeviceHealth) -> None:
        """Replace the device's latest heartbeat and its cameras' health."""

    async def record_state(self, device_id: str, report: StateReportRecord) -> None:
        """Replace the config state the device last reported (applied version, errors)."""

    async def list_cameras(self, device_id: str = "", site: str = "") -> list[CameraStatus]:
        """Cameras' last health and last event time, narrowed by device and/or site."""

    # Desired state.
    async def get_config_docs(self, device_id: str) -> dict[str, ConfigDoc]:
        """Current document per scope ('' = box) of a device."""

    async def get_desired(self, device_id: str) -> ConfigDoc | None:
        """The rendered box document the agent should run (scope '*')."""

    async def put_config(self, doc: ConfigDoc, rendered: ConfigDoc, expected_version: int) -> None:
        """Store a scope document and the new rendered document at `doc.version`.

        `doc.version` must be the device's current version + 1 (else VersionConflictError),
        so two operators editing at once cannot silently overwrite each other.
        """

    # Desired state of many devices at once (fleet/store/sqlite_config_batch.py).
    async def config_docs_of(self, device_ids: Sequence[str]) -> dict[str, dict[str, ConfigDoc]]:
        """Per device: its current document per scope, the rendered one under scope '*'.

        One read for a whole batch; a device without documents maps to an empty dict.
        """

    async def put_configs(self, pairs: Sequence[tuple[ConfigDoc, ConfigDoc]]) -> list[str]:
        """Store each (scope document, rendered document) pair in ONE transaction.

        A pair is written only if its device is at `doc.version - 1` when the transaction
        runs; the ids of devices that were not (changed meanwhile) are returned and nothing
        of theirs is written, so one concurrent edit never overwrites or fails the others.
        """

    # Webhooks.
    async def add_webhook(self, hook: Webhook) -> None:
        """Register a webhook; it starts delivering from `hook.cursor`."""

    async def list_webhooks(self) -> list[Webhook]:
        """Every webhook with its cursor and counters; the dispatcher resumes from these."""

    async def delete_webhook(self, webhook_id: str) -> None:
        """Remove a webhook; NotFoundError if there is no such webhook."""

    async def webhook_progress(self, progress: WebhookProgress) -> None:
        """Advance a webhook's cursor, add to its counters, record dead-lettered cursors."""

    # Webhook dead letters (fleet/store/sqlite_dead_letters.py).
    async def list_dead_letters(self, query: DeadLetterQuery) -> list[DeadLetter]:
        """A page of dead letters in (cursor, webhook) order with their state and replays."""

    async def events_at(self, cursors: Sequence[int]) -> list[StoredEvent]:
        """The stored events with these cursors, in cursor order (deleted ones are absent)."""

    async def record_replays(self, records: Sequence[ReplayRecord]) -> None:
        """Append replay attempts of dead letters (their outcome decides the state)."""

    # Audit.
    async def audit(self, entry: AuditEntry) -> None:
        """Append to the hash-chained audit log."""

    # Watchlists (fleet/store/sqlite_watchlists.py). Names and ids unknown -> NotFoundError.
    async def create_watchlist(self, watchlist: WatchlistRecord) -> None:
        """Keep a new watchlist; an existing name is an InvalidRequestError."""

    async def list_watchlists(self) -> list[WatchlistRecord]:
        """Every watchlist, by name."""

    async def get_watchlist(self, name: str) -> WatchlistRecord:
        """The watchlist called `name`."""

    async def delete_watchlist(self, name: str) -> WatchlistRecord:
        """Delete a watchlist with its subjects, photos and templates (its alerts stay)."""

    async def add_subject(self, subject: SubjectRecord) -> None:
        """Keep a subject with its photos and templates, in one transaction."""

    async def list_subjects(self, watchlist: str = "") -> list[SubjectRecord]:
        """Subjects of one watchlist (all when empty) with their templates, without photos."""

    async def get_subject(self, subject_id: str) -> SubjectRecord:
        """One subject with its photos' quality (not their bytes) and templates."""

    async def remove_subject(self, subject_id: str) -> SubjectRecord:
        """Delete a subject with its photos and templates."""

    async def gallery_rows(self) -> list[GalleryRow]:
        """Every template with its subject and watchlist: what the matcher loads."""

    # Re-embedding galleries (fleet/store/sqlite_galleries.py).
    async def photo_keys(self) -> list[tuple[str, int]]:
        """(subject id, photo index) of every stored enrolment photo, in enrolment order."""

    async def photo_data(self, subject_id: str, photo_index: int) -> bytes:
        """One enrolment photo's bytes; NotFoundError once its subject is removed."""

    async def template_keys(self, embedder: EmbedderKey) -> set[tuple[str, int]]:
        """(subject id, photo index) of the templates embedder `embedder` has."""

    async def add_template(self, template: Template) -> bool:
        """Keep one template; False if its subject is gone or it already exists."""

    async def add_alert(self, alert: AlertRecord) -> bool:
        """Keep a new alert and its pending evidence request, in one transaction.

        False (nothing written) if its (device, camera, track, subject) already has one.
        """

    async def get_alert(self, alert_id: str) -> AlertRecord:
        """One alert with its decisions."""

    async def list_alerts(self, query: AlertQuery) -> list[AlertRecord]:
        """Alerts newest first, narrowed by state and watchlist."""

    async def decide_alert(self, alert_id: str, decision: DecisionRecord) -> AlertRecord:
        """Record one operator's decision and the alert's new state atomically.

        Refused (VersionConflictError) when the alert is decided or the operator decided it.
        """

    # Audit log readers and checkpoints.
    async def list_audit(self, query: AuditQuery) -> list[AuditRow]:
        """Audit entries after `query.after_seq` in chain order, filtered, at most `limit`."""

    async def audit_head(self) -> tuple[int, str]:
        """(seq, hash) of the newest audit entry, (0, '') when there is none."""

    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Keep a signed checkpoint of the audit chain."""

    async def latest_checkpoint(self) -> Checkpoint | None:
        """The newest signed checkpoint, or None."""

    # Model artifact files shared by replicas (fleet/store/pg_artifacts.py). One process
    # keeps them on its own disk only (fleet/models/blobs.py): these defaults keep none.
    shares_artifacts: ClassVar[bool] = False

    async def put_artifact_chunk(self, sha256: str, seq: int, data: bytes) -> None:
        """Keep chunk `seq` of the file with this digest for the other replicas."""

    async def get_artifact_chunk(self, sha256: str, seq: int) -> bytes | None:
        """Chunk `seq` of the file, None past the last (or when artifacts are not shared)."""
        return None

    async def artifact_size(self, sha256: str) -> int | None:
        """Bytes kept of the file, None when none are."""
        return None

    # Model registry (fleet/store/sqlite_models.py).
    async def add_signing_key(self, key: SigningKeyRecord) -> None:
        """Trust a public model-signing key; a known key id is an AlreadyExistsError."""

    async def list_signing_keys(self) -> list[SigningKeyRecord]:
        """Every trusted key, oldest first (endorsers before the keys they endorse)."""

    async def add_model_version(self, version: ModelVersion) -> None:
        """Keep a new model version; name@version stored before is an AlreadyExistsError."""

    async def get_model_version(self, name: str, version: str) -> ModelVersion | None:
        """One stored version, or None."""

    async def list_model_versions(self, name: str = "") -> list[ModelVersion]:
        """Versions of `name` (all when empty), by name then push time."""

    async def count_assigned(self, name: str, version: str) -> int:
        """How many devices are assigned name@version now."""

    async def put_assignments(self, wanted: Sequence[Assignment]) -> list[Assignment]:
        """Replace each (device, slot)'s assignment in one transaction; returns them numbered.

        Each stored `assignment_id` is the slot's previous id + 1 (the given one is ignored).
        """

    async def get_assignments(self, device_id: str = "") -> list[Assignment]:
        """Current assignments of one device (all devices when empty)."""

    async def record_model_report(self, device_id: str, report: ModelReportRecord) -> None:
        """Replace the device's last report for `report.slot`."""

    async def get_model_reports(self, device_id: str = "") -> list[tuple[str, ModelReportRecord]]:
        """(device_id, last report) per slot of one device (all devices when empty)."""

    # Rollouts (fleet/store/sqlite_rollouts.py). Unknown rollout ids -> NotFoundError.
    async def create_rollout(self, rollout: Rollout, devices: Sequence[RolloutDevice]) -> None:
        """Keep a new rollout with its boxes, in one transaction.

        Refused (VersionConflictError naming it) when a box is in another active rollout.
        """

    async def get_rollout(self, rollout_id: str) -> Rollout:
        """The rollout with this id."""

    async def list_rollouts(self, states: Sequence[str] = (), limit: int = 100) -> list[Rollout]:
        """Rollouts in `states` (every state if empty), newest first."""

    async def rollout_devices(self, rollout_id: str) -> list[RolloutDevice]:
        """The rollout's boxes in their deterministic order."""

    async def save_rollout(self, rollout: Rollout, devices: Sequence[RolloutDevice]) -> Rollout:
        """Store the rollout's new state and these boxes' records in one transaction.

        Only if the stored revision is still `rollout.revision` (else VersionConflictError);
        returns the rollout with its new revision.
        """

    async def record_start(self, device_id: str, started_us: int, seen_us: int) -> None:
        """Note an agent process start (Hello.started_at) first seen at `seen_us`."""

    async def device_starts(self, device_ids: Sequence[str]) -> dict[str, list[int]]:
        """Recent process start times per device, oldest first."""

    async def model_changes(
        self, device_ids: Sequence[str], except_rollout: str = ""
    ) -> dict[str, list[int]]:
        """Times other rollouts assigned these boxes a model or gave one back, per box."""

    async def add_latency(self, rollout_id: str, samples: Sequence[LatencySample]) -> None:
        """Keep heartbeat latency samples for a rollout's latency gate (bounded per box)."""

    async def latency_samples(self, rollout_id: str) -> list[LatencySample]:
        """The rollout's latency samples by device and time."""

    # Alert evidence (fleet/store/sqlite_evidence.py): one row per alert, made with it by
    # `add_alert`, purged with it.
    async def request_missing_evidence(self, now_us: int) -> int:
        """A pending request for every alert that has none; how many were added."""

    async def pending_evidence(self, device_id: str, limit: int) -> list[EvidenceRequestRecord]:
        """The device's unanswered requests, oldest first, at most `limit`."""

    async def get_evidence_request(self, request_id: str) -> EvidenceMeta | None:
        """The request with this id and its state, or None (unknown, or purged)."""

    async def answer_evidence(self, request_id: str, answer: EvidenceAnswer) -> bool:
        """Record the box's answer; False (nothing written) unless the request was pending."""

    async def evidence_meta(self, alert_ids: Sequence[str]) -> dict[str, EvidenceMeta]:
        """Evidence state and metadata (never the image) of those alerts that have a row."""

    async def get_alert_evidence(self, alert_id: str) -> tuple[bytes, EvidenceMeta] | None:
        """The alert's JPEG and its metadata; None unless the image is present."""

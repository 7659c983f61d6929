"""The one storage interface of the fleet. SQLite is the embedded default; PostgreSQL will
implement the same protocol, which is why every method is async (a network database must
not block the event loop) and every multi-row change is one method (one transaction).

Contract every implementation keeps:
* `ingest` commits all batches it is given in one durable transaction before returning
  (the caller acknowledges afterwards), stores each event_id at most once, and assigns
  cursors that increase strictly in commit order and are never reused.
* Methods raise only `fleet.errors` exceptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fleet.store.records import (
    ApiToken,
    AuditEntry,
    CameraStatus,
    ConfigDoc,
    Device,
    DeviceHealth,
    EnrollmentToken,
    EventQuery,
    IngestCommit,
    NewEvent,
    StateReportRecord,
    StoredEvent,
    StoreStats,
    Webhook,
    WebhookProgress,
)


class Store(Protocol):
    """Fleet registry + event store."""

    description: str

    async def close(self) -> None: ...

    # Events.
    async def ingest(self, batches: Sequence[Sequence[NewEvent]], received_us: int) -> IngestCommit:
        """Store new events of all batches atomically; duplicates are counted, not stored."""

    async def read_events(self, query: EventQuery) -> list[StoredEvent]: ...
    async def stats(self) -> StoreStats: ...
    async def last_cursor(self) -> int:
        """Cursor of the newest committed event (0 if none ever)."""

    # Tokens.
    async def add_api_token(self, token: ApiToken) -> None: ...
    async def get_api_token(self, token_id: str) -> ApiToken | None: ...
    async def count_api_tokens(self) -> int: ...
    async def list_api_tokens(self) -> list[ApiToken]: ...
    async def delete_api_token(self, token_id: str) -> ApiToken | None:
        """Revoke: the token is refused from now on; returns what was removed, if any."""

    async def add_enrollment_token(self, token: EnrollmentToken) -> None: ...
    async def get_enrollment_token(self, token_id: str) -> EnrollmentToken | None: ...
    async def list_enrollment_tokens(self) -> list[EnrollmentToken]: ...

    # Devices.
    async def enroll_device(self, token_id: str, secret_hash: str, device: Device) -> Device:
        """Spend the token and create the device in one transaction.

        Raises UnauthenticatedError (and writes nothing) unless the token exists, its hash
        matches, it is unused and `device.enrolled_us` is before its expiry.
        """

    async def get_device(self, device_id: str) -> Device | None: ...
    async def get_device_by_serial(self, serial: str) -> Device | None: ...
    async def list_devices(self, site: str = "") -> list[Device]: ...
    async def revoked_serials(self) -> set[str]: ...
    async def revoke_device(self, device_id: str, reason: str, at_us: int) -> Device: ...
    async def record_hello(self, device_id: str, agent_version: str, at_us: int) -> None: ...
    async def record_health(self, device_id: str, health: DeviceHealth) -> None: ...
    async def record_state(self, device_id: str, report: StateReportRecord) -> None: ...
    async def list_cameras(self, device_id: str = "", site: str = "") -> list[CameraStatus]: ...

    # Desired state.
    async def get_config_docs(self, device_id: str) -> dict[str, ConfigDoc]:
        """Current document per scope ('' = box) of a device."""

    async def get_desired(self, device_id: str) -> ConfigDoc | None:
        """The rendered box document the agent should run (scope '*')."""

    async def put_config(self, doc: ConfigDoc, rendered: ConfigDoc, expected_version: int) -> None:
        """Store a scope document and the new rendered document at `doc.version`, which
        must be the device's current version + 1 (else VersionConflictError)."""

    # Webhooks.
    async def add_webhook(self, hook: Webhook) -> None: ...
    async def list_webhooks(self) -> list[Webhook]: ...
    async def delete_webhook(self, webhook_id: str) -> None: ...
    async def webhook_progress(self, progress: WebhookProgress) -> None:
        """Advance a webhook's cursor, add to its counters, record dead-lettered cursors."""

    # Audit.
    async def audit(self, entry: AuditEntry) -> None:
        """Append to the hash-chained audit log."""

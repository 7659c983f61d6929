"""Plain records the store reads and writes.

Times are integer microseconds since the epoch (UTC), so every backend stores and compares
them the same way without time-zone surprises.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

ACTIVE = "active"
REVOKED = "revoked"


@dataclass(frozen=True)
class EventFilter:
    """Empty sets match everything; fields AND, values within a field OR."""

    camera_ids: frozenset[str] = frozenset()
    sites: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    device_ids: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        camera_ids: Iterable[str] = (),
        sites: Iterable[str] = (),
        types: Iterable[str] = (),
        device_ids: Iterable[str] = (),
    ) -> EventFilter:
        """Build from any iterables (protobuf repeated fields, CLI lists) without copying twice."""
        return cls(frozenset(camera_ids), frozenset(sites), frozenset(types), frozenset(device_ids))

    def matches(self, event: NewEvent | StoredEvent) -> bool:
        """Whether a live event passes; the store applies the same rule in SQL to history."""
        return (
            (not self.camera_ids or event.camera_id in self.camera_ids)
            and (not self.sites or event.site in self.sites)
            and (not self.types or event.type in self.types)
            and (not self.device_ids or event.device_id in self.device_ids)
        )


class NewEvent(NamedTuple):
    """A validated event on its way into the store; `payload` is the serialized oko.v1.Event.

    Named tuples, not dataclasses, for the two event records: ingest makes one per event
    at tens of thousands per second, and a frozen dataclass costs several times more to
    construct.
    """

    event_id: str
    device_id: str
    camera_id: str
    site: str
    type: str
    capture_us: int
    payload: bytes


class StoredEvent(NamedTuple):
    """An event with its place in the store.

    Field order = the events table's columns, so the tuple itself is the INSERT row.
    """

    cursor: int
    event_id: str
    device_id: str
    camera_id: str
    site: str
    type: str
    capture_us: int
    received_us: int
    payload: bytes


@dataclass(frozen=True)
class BatchOutcome:
    """What one agent batch became, which the ingest path turns into that batch's Ack."""

    accepted: int
    duplicates: int
    last_cursor: int = 0  # the store's cursor after the commit that took this batch
    failed: str = ""  # set when the batch could not be stored: why (all its events refused)


@dataclass(frozen=True)
class IngestCommit:
    """Result of one group commit: one outcome per batch, the new events in cursor order."""

    outcomes: list[BatchOutcome]
    stored: list[StoredEvent]
    last_cursor: int


@dataclass(frozen=True)
class EventQuery:
    """One page of history: events after a cursor, optionally within a capture-time range.

    Oldest first by default; `newest_first` pages backwards from `before_cursor`.
    """

    filter: EventFilter = EventFilter()
    after_cursor: int = 0
    start_us: int | None = None
    end_us: int | None = None
    limit: int = 100
    newest_first: bool = False
    before_cursor: int = 0  # 0: no upper bound


@dataclass(frozen=True)
class CameraHealth:
    """One camera's state as its box last reported it in a heartbeat."""

    camera_id: str
    online: bool = False
    fps: float = 0.0
    inference_ms: float = 0.0
    error: str = ""
    last_frame_us: int = 0


@dataclass(frozen=True)
class CameraStatus:
    """A camera as okoctl shows it: last health report plus the last event time."""

    device_id: str
    site: str
    health: CameraHealth
    updated_us: int
    last_event_us: int


@dataclass(frozen=True)
class DeviceHealth:
    """From one heartbeat."""

    at_us: int
    spool_depth: int = 0
    spool_bytes: int = 0
    dropped_events: int = 0
    cpu_percent: float = 0.0
    memory_percent: float = 0.0
    cameras: tuple[CameraHealth, ...] = ()


@dataclass(frozen=True)
class StateReportRecord:
    """The box's last word on its config: what it runs, what it tried, and why that failed."""

    at_us: int
    applied_version: int
    document: str
    attempted_version: int
    ok: bool
    error: str
    detector_model: str = ""  # what the box runs: rule classes are checked against it
    detector_version: str = ""
    detector_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Device:
    """An enrolled box, identified on every stream by its client certificate's serial."""

    device_id: str
    name: str
    site: str
    cert_serial: str
    cert_not_after_us: int
    enrolled_us: int
    hostname: str = ""
    agent_version: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    status: str = ACTIVE
    revoked_reason: str = ""
    revoked_us: int = 0
    last_seen_us: int = 0
    health: DeviceHealth | None = None
    reported: StateReportRecord | None = None


@dataclass(frozen=True)
class ApiToken:
    """An operator or integration credential; only a hash of the secret is kept."""

    token_id: str
    name: str
    role: int
    secret_hash: str
    created_us: int
    expires_us: int = 0  # 0 = never


@dataclass(frozen=True)
class EnrollmentToken:
    """A one-use, expiring permission for a new box to obtain its certificate at `site`."""

    token_id: str
    site: str
    note: str
    secret_hash: str
    created_us: int
    expires_us: int
    used_us: int = 0
    used_by: str = ""


@dataclass(frozen=True)
class ConfigDoc:
    """One scope's document ('' = the box, else a camera id) at one device version."""

    device_id: str
    scope: str
    version: int
    document: str
    sha256: str
    created_us: int
    author: str


@dataclass(frozen=True)
class Webhook:
    """An HTTP receiver of events; `cursor` is how far delivery got, so restarts resume."""

    webhook_id: str
    url: str
    secret: str
    filter: EventFilter
    created_us: int
    cursor: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    dead_letters: int = 0


@dataclass(frozen=True)
class StoreStats:
    """Totals exported as fleet metrics and shown by `okoctl status`."""

    devices: int
    devices_revoked: int
    events: int
    last_cursor: int
    webhook_dead_letters: int


@dataclass(frozen=True)
class WebhookProgress:
    """One delivery round of a webhook: counters to add and cursors given up on."""

    webhook_id: str
    cursor: int
    delivered: int = 0
    failed: int = 0
    dead: tuple[int, ...] = ()
    error: str = ""
    at_us: int = 0


@dataclass(frozen=True)
class AuditEntry:
    """One operator action, appended to the hash-chained audit log."""

    actor: str
    action: str
    target: str
    detail: str
    at_us: int


@dataclass(frozen=True)
class PurgeRule:
    """The event types one retention rule covers (`exclude`: every type but these).

    `key` names the rule's purge progress in the store, so a rule whose types change
    (an override added or removed) starts its walk over instead of skipping old rows.
    """

    types: frozenset[str]
    exclude: bool = False

    @property
    def key(self) -> str:
        """The `meta` key holding how far this rule's walk got."""
        return "purged:" + ("-" if self.exclude else "") + ",".join(sorted(self.types))

    def covers(self, event_type: str) -> bool:
        """Whether events of this type fall under the rule."""
        return (event_type in self.types) != self.exclude


@dataclass(frozen=True)
class PurgeStep:
    """One bounded purge transaction: rows deleted, and whether the rule is caught up."""

    deleted: int
    done: bool


# Webhook dead letters and their replays (fleet/store/sqlite_dead_letters.py).
DEAD_PENDING = "pending"  # given up on; not yet delivered by a replay
DEAD_REPLAYED = "replayed"  # a replay delivered it
DEAD_GONE = "gone"  # its event is no longer stored (retention): it can never be replayed


@dataclass(frozen=True)
class DeadLetter:
    """One event a webhook gave up on, with what happened to it since.

    Keyed by (webhook, cursor): `id` is `<webhook_id>:<cursor>`, stable for its lifetime.
    """

    webhook_id: str
    cursor: int
    error: str  # why the last delivery attempt failed
    failed_us: int  # when it was (last) given up on
    failures: int  # how many times it was given up on (almost always 1)
    state: str  # DEAD_PENDING, DEAD_REPLAYED or DEAD_GONE
    event_id: str = ""  # empty when gone
    event_type: str = ""
    camera_id: str = ""
    device_id: str = ""
    site: str = ""
    replays: int = 0
    last_replay_us: int = 0
    last_replay_error: str = ""

    @property
    def id(self) -> str:
        """The id okoctl shows and `webhook replay` takes."""
        return f"{self.webhook_id}:{self.cursor}"


@dataclass(frozen=True)
class DeadLetterQuery:
    """A page of dead letters in (cursor, webhook) order, after the key `after`."""

    webhook_id: str = ""  # empty: every webhook
    include_done: bool = False  # also replayed and gone ones
    after: tuple[int, str] = (0, "")  # (cursor, webhook_id) of the previous page's last
    limit: int = 100
    keys: tuple[tuple[str, int], ...] = ()  # only these (webhook_id, cursor) pairs


@dataclass(frozen=True)
class ReplayRecord:
    """One replay attempt of one dead letter (outcome 'delivered', 'failed' or 'gone')."""

    webhook_id: str
    cursor: int
    at_us: int
    actor: str
    outcome: str
    error: str = ""

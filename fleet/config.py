"""Settings of `oko-fleet serve`: a YAML file (`--config`) and options that override it.

Every field can be set in the file; the common ones also have a `serve` option of the same
name (`--listen` for `listen`), which wins over the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from agent.config import ConfigError, Section, parse_document, parse_yaml
from fleet.connection_settings import ConnectionSettings
from fleet.console.settings import ConsoleSettings
from fleet.errors import FleetError
from fleet.limits import Limits
from fleet.rollouts.settings import RolloutSettings
from fleet.store.select import check_store_url
from proto.oko.v1 import events_pb2
from proto.transport import DEFAULT_AGENT_PORT, DEFAULT_API_PORT


def _check_address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT")
    return value


FACE_TYPE = "face"
# Alerts the fleet mints onto the event stream: kept as long as alerts (alerts_days).
ALERT_TYPE = "watchlist_alert"
EVENT_TYPES = frozenset(f.name for f in events_pb2.Event.DESCRIPTOR.oneofs_by_name["body"].fields)
_MAX_DAYS = 3650.0


class RetentionSettings(Section):
    """How long the fleet keeps what boxes send; the purge task enforces it.

    Ages count from when the fleet received a row (its own clock), not the box's capture
    time. Face events are purged by their type, whatever else an override says.
    """

    face_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 90,
        description="Face events (embeddings) that matched no watchlist are deleted this "
        "many hours after receipt. A day covers the next shift's review of an incident "
        "while keeping biometric data of passers-by for hours, not weeks.",
    )
    events_days: float = Field(
        default=30.0,
        gt=0,
        le=_MAX_DAYS,
        description="Every other event type is deleted this many days after receipt, "
        "unless `type_days` names its type.",
    )
    type_days: dict[str, float] = Field(
        default_factory=dict,
        description="Days per event type instead of `events_days`, e.g. "
        "{traffic_flow: 365}; keys are event body names except face (face_hours) and "
        "watchlist_alert (alerts_days).",
    )
    alerts_days: float = Field(
        default=90.0,
        gt=0,
        le=_MAX_DAYS,
        description="Watchlist alerts (their events on the stream too), their decisions "
        "and evidence images are deleted this many days after they were raised.",
    )
    interval_s: float = Field(
        default=300.0,
        ge=1,
        le=86_400,
        description="Seconds between purge passes (one also runs at start); a row lives "
        "at most its retention plus this.",
    )
    batch_rows: int = Field(
        default=1000,
        ge=10,
        le=100_000,
        description="Rows one purge transaction reads at most; ingest commits run between "
        "transactions, so this bounds how long a purge can hold up an acknowledgement.",
    )

    @field_validator("type_days")
    @classmethod
    def _known_types(cls, value: dict[str, float]) -> dict[str, float]:
        for name, days in value.items():
            if name == FACE_TYPE:
                raise ValueError("face is set by face_hours, not type_days")
            if name == ALERT_TYPE:
                raise ValueError(f"{ALERT_TYPE} is set by alerts_days, not type_days")
            if name not in EVENT_TYPES:
                known = ", ".join(sorted(EVENT_TYPES - {FACE_TYPE, ALERT_TYPE}))
                raise ValueError(f"unknown event type {name!r} (known: {known})")
            if not 0 < days <= _MAX_DAYS:
                raise ValueError(f"{name}: days must be in (0, {_MAX_DAYS:g}], got {days}")
        return value


class WatchlistSettings(Section):
    """How watchlist galleries are searched and re-embedded (docs/watchlists.md)."""

    ann_min_templates: int = Field(
        default=200_000,
        ge=1,
        le=100_000_000,
        description="A gallery (one embedder version) with at least this many templates "
        "also gets an ANN index (usearch HNSW, the `ann` extra) whose candidates are "
        "re-scored exactly; smaller galleries are searched exactly. Exact search costs "
        "about 3 ms per face at 10^4 templates and 20-40 ms at 10^5 on 2 idle cores; "
        "below ~10^5 an index deep enough to find 99 % of matches is no faster "
        "(bench/watchlist_ann.py, docs/watchlists.md).",
    )
    ann_candidates: int = Field(
        default=64,
        ge=1,
        le=4096,
        description="Templates the ANN index proposes per face; all are re-scored "
        "exactly. More candidates: higher recall, slower search.",
    )
    ann_search_depth: int = Field(
        default=1024,
        ge=16,
        le=8192,
        description="HNSW search depth (ef): how much of the graph one search visits. "
        "Deeper finds more of the true matches, slower; at least `ann_candidates` is used. "
        "On worst-case (random) 1024-d templates: at 5x10^4, 64 found 77 % of matches, "
        "512 all; at 10^5, 128 found 81 %, 512 99 %, 1024 all, in half the time of exact "
        "search (bench/watchlist_ann.py).",
    )
    ann_build_threads: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Threads that build an ANN index (in the background; the gallery is "
        "searched exactly meanwhile). One keeps a core free for ingest on a small server. "
        "A built index is saved in `<data_dir>/watchlist-ann/` and loaded at the next start "
        "instead of rebuilt (about 1.5 ms of CPU per template to build, tens of minutes at "
        "10^6; loading takes seconds).",
    )
    models_manifest: Path | None = Field(
        default=None,
        description="Model manifest (models/manifest.json format) the enrolment and "
        "`okoctl watchlist reembed` load face models from; unset = the models shipped "
        "with the fleet.",
    )


class CertificateSettings(Section):
    """Device certificates: how long they last and how often a box may renew one.

    Boxes renew on their own over the mutual-TLS port before expiry (the agent's
    `fleet.renew_at`); see docs/operations.md, "Certificate renewal".
    """

    device_days: float = Field(
        default=365.0,
        ge=10 / 86_400,
        le=3650,
        description="Lifetime of every device certificate issued from now on (enrollment, "
        "renewal, reissue), in days; fractions allowed (0.01 = 14.4 minutes; at least 10 "
        "seconds, for tests). Certificates already issued keep theirs.",
    )
    renewals_per_hour: int = Field(
        default=6,
        ge=1,
        le=3600,
        description="RenewCertificate calls one device may make in any hour (refused or not); "
        "more are refused with RESOURCE_EXHAUSTED naming when to retry. A box needs one per "
        "lifetime, plus retries after failures. Counted in memory: a restart resets it.",
    )


class FleetSettings(Section):
    """Where the fleet keeps its state and where it listens."""

    data_dir: Path = Field(description="Store, CA and server certificate live here.")
    store: str = Field(
        default="",
        max_length=2000,
        description="Empty: SQLite in data_dir (the embedded default). A postgresql:// URL: "
        "the shared PostgreSQL store several replicas run over (docs/scale.md); apply its "
        "schema first with `oko-fleet migrate --store URL`.",
    )
    nats: str = Field(
        default="",
        max_length=2000,
        description="Empty: fan-out between replicas is off (one process). nats://HOST:PORT "
        "(comma-separated for a cluster): replicas share events, config pushes and "
        "revocations through NATS JetStream (docs/scale.md). Needs a PostgreSQL store.",
    )
    replica_id: str = Field(
        default="",
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]*$",
        description="This replica's name in leases, logs and metrics; empty: hostname-pid.",
    )
    listen: str = Field(
        default=f"0.0.0.0:{DEFAULT_API_PORT}",
        description="API port (TLS, server auth): Enroll, AdminService, EventService.",
    )
    agent_listen: str = Field(
        default=f"0.0.0.0:{DEFAULT_AGENT_PORT}",
        description="Agent port (mutual TLS): AgentService.Connect.",
    )
    advertise_agent: str = Field(
        default="",
        description="host:port boxes should connect to, sent in EnrollResponse; empty means "
        "the host they enrolled against with the agent port.",
    )
    hostnames: tuple[str, ...] = Field(
        default=(), description="Extra DNS names / IPs for the server certificate."
    )
    metrics_listen: str = Field(
        default="127.0.0.1:9465", description="Prometheus /metrics HOST:PORT; empty disables."
    )
    console_listen: str = Field(
        default="",
        description="Operations-centre web console HOST:PORT (HTTPS with the server "
        "certificate, docs/console.md); empty disables.",
    )
    console: ConsoleSettings = Field(
        default_factory=ConsoleSettings,
        description="Sessions and live views of the web console (docs/console.md).",
    )
    subscriber_queue_events: int = Field(
        default=20_000,
        ge=100,
        le=10_000_000,
        description="Live events buffered per subscriber before it is served from the store.",
    )
    max_group_events: int = Field(
        default=20_000, ge=1, le=1_000_000, description="Upper bound of events in one group commit."
    )
    hello_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="A new agent stream must say Hello within this."
    )
    handshake_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="A new connection must finish its TLS and HTTP/2 handshake within this, "
        "else it is closed (unauthenticated sockets must not hold descriptors for long).",
    )
    max_connections: int = Field(
        default=4096,
        ge=8,
        le=1_000_000,
        description="Open connections per port at most; beyond it new ones are closed at "
        "once. Keep both ports' sum under the process's file descriptor limit.",
    )
    idle_connection_s: float = Field(
        default=300.0,
        ge=1,
        le=86_400,
        description="A connection with no call open for this long is closed (clients "
        "reconnect on their next call).",
    )
    webhook_attempts: int = Field(
        default=5, ge=1, le=50, description="POST attempts per webhook batch before dead-lettering."
    )
    webhook_backoff_s: float = Field(
        default=0.5, gt=0, le=300, description="First retry delay; doubles per attempt."
    )
    webhook_timeout_s: float = Field(
        default=5.0, gt=0, le=120, description="Timeout of one webhook POST."
    )
    webhook_batch: int = Field(
        default=100, ge=1, le=10_000, description="Events per webhook POST at most."
    )
    limits: Limits = Field(
        default_factory=Limits,
        description="Bounds on what boxes send, enforced on receipt (docs/operations.md, Limits).",
    )
    retention: RetentionSettings = Field(
        default_factory=RetentionSettings,
        description="How long events, face embeddings and alerts are kept "
        "(docs/operations.md, Retention).",
    )
    watchlists: WatchlistSettings = Field(
        default_factory=WatchlistSettings,
        description="Gallery search (exact, ANN above a size) and re-embedding "
        "(docs/watchlists.md).",
    )
    certificates: CertificateSettings = Field(
        default_factory=CertificateSettings,
        description="Device certificate lifetime and renewal limits "
        "(docs/operations.md, Certificate renewal).",
    )
    rollouts: RolloutSettings = Field(
        default_factory=RolloutSettings,
        description="How staged model rollouts run (docs/operations.md, Rollouts).",
    )
    connections: ConnectionSettings = Field(
        default_factory=ConnectionSettings,
        description="gRPC per-connection buffers: memory per connected box "
        "(docs/benchmarks.md, Memory per connected box).",
    )

    @field_validator("store")
    @classmethod
    def _store(cls, value: str) -> str:
        return check_store_url(value)

    @field_validator("nats")
    @classmethod
    def _nats(cls, value: str) -> str:
        for server in filter(None, value.split(",")):
            if not server.startswith(("nats://", "tls://")):
                raise ValueError(f"{server!r} is not a nats:// (or tls://) URL")
        return value

    @model_validator(mode="after")
    def _nats_needs_shared_store(self) -> FleetSettings:
        if self.nats and not self.store:
            raise ValueError("nats needs a shared store: set store to a postgresql:// URL")
        return self

    @field_validator("listen", "agent_listen")
    @classmethod
    def _address(cls, value: str) -> str:
        return _check_address(value)

    @field_validator("metrics_listen", "advertise_agent", "console_listen")
    @classmethod
    def _optional_address(cls, value: str) -> str:
        return _check_address(value) if value else value


class SettingsError(FleetError):
    """The settings file or an option is wrong; the message names the file and field."""


def read_settings_file(path: Path) -> dict[str, Any]:
    """The mapping in a YAML settings file; SettingsError (one line) if it is unreadable."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SettingsError(f"{path}: cannot read settings: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SettingsError(
            f"{path}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); "
            "save the file as UTF-8"
        ) from None
    try:
        return parse_yaml(text, str(path))
    except ConfigError as err:
        raise SettingsError(str(err)) from None


def load_settings(path: Path | None, options: dict[str, Any]) -> FleetSettings:
    """Settings from the file (if any) with the given options on top, validated."""
    data = read_settings_file(path) if path is not None else {}
    data.update(options)
    source = str(path) if path is not None else "oko-fleet serve"
    try:
        return parse_document(FleetSettings, data, source)
    except ConfigError as err:
        raise SettingsError(str(err)) from None

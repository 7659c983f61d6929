"""The fleet's parts wired together: store, CA, revocations, sessions, ingest, fan-out.

Servicers receive one `FleetApp` rather than a dozen arguments; tests build a real one
around a temporary directory. Nothing here talks gRPC.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.access import AccessControl
from fleet.auth import Role, mint_api_token
from fleet.broadcast import Broadcaster
from fleet.bus import Bus, LocalBus
from fleet.ca import CertificateAuthority, RevocationSet
from fleet.cert_lifecycle import (
    CertLifecycle,
    ExpiryCollector,
    ExpiryRefresher,
    RenewalCounters,
    RenewalLimiter,
)
from fleet.config import FleetSettings
from fleet.errors import FleetError
from fleet.fleet_metrics import FleetMetrics
from fleet.ingest import Ingestor
from fleet.leases import Change, Lease
from fleet.replica_metrics import ReplicaCollector
from fleet.replicas import Replication
from fleet.sequencer import Sequencer
from fleet.sessions import SessionRegistry, TokenStreams
from fleet.store.base import Store
from fleet.store.records import ApiToken, AuditEntry, Device, StoredEvent
from fleet.store.select import STORE_FILE, open_store
from fleet.webhooks import WebhookManager

log = logging.getLogger(__name__)

BOOTSTRAP_TOKEN_NAME = "bootstrap-admin"


def now_us() -> int:
    """Wall-clock time in microseconds, the unit of every timestamp in the store."""
    return time.time_ns() // 1000


async def mint_admin_token(store: Store, detail: str) -> str:
    """A new admin token named BOOTSTRAP_TOKEN_NAME; its text is returned, only its hash kept.

    Earlier tokens of that name are revoked first, so a reset leaves exactly one.
    """
    for old in await store.list_api_tokens():
        if old.name == BOOTSTRAP_TOKEN_NAME:
            await store.delete_api_token(old.token_id)
            await store.audit(
                AuditEntry("fleet", "token.api.revoke", old.token_id, detail, now_us())
            )
    minted = mint_api_token()
    at = now_us()
    await store.add_api_token(
        ApiToken(
            token_id=minted.token_id,
            name=BOOTSTRAP_TOKEN_NAME,
            role=int(Role.ADMIN),
            secret_hash=minted.secret_hash,
            created_us=at,
        )
    )
    await store.audit(AuditEntry("fleet", "token.create", minted.token_id, detail, at))
    return minted.text


async def reset_admin_token(data_dir: Path, store_url: str = "") -> str:
    """`oko-fleet admin-token reset`: a new admin token for an existing fleet.

    For when the first one was lost, or leaked. Works while the fleet runs: tokens are
    read per call.
    """
    path = data_dir / STORE_FILE
    if not store_url and not path.is_file():
        raise FleetError(f"no fleet store at {path}: run `oko-fleet serve` on it first")
    store = await open_store(store_url, data_dir)
    try:
        return await mint_admin_token(store, "admin token reset (oko-fleet admin-token reset)")
    finally:
        await store.close()


def _bus(settings: FleetSettings) -> Bus:
    replica_id = settings.replica_id or f"{socket.gethostname()}-{os.getpid()}"
    if not settings.nats:
        return LocalBus(replica_id)
    from fleet.nats_bus import NatsBus  # needs the scale extra

    return NatsBus(settings.nats, replica_id)


def _nowhere(events: list[StoredEvent]) -> None:
    """Other replicas' events, without a shared store: there are none."""


@dataclass
class FleetApp:
    """The fleet's shared state: settings, store, CA and the services built on them."""

    settings: FleetSettings
    store: Store
    ca: CertificateAuthority
    revocations: RevocationSet
    metrics: FleetMetrics
    broadcaster: Broadcaster
    ingestor: Ingestor
    access: AccessControl
    webhooks: WebhookManager
    certs: CertLifecycle
    replication: Replication = field(init=False)
    sequencer: Sequencer | None = None  # set on a shared store: merges replicas' commits
    leases: list[Lease] = field(default_factory=list)
    sessions: SessionRegistry = field(default_factory=SessionRegistry)
    streams: TokenStreams = field(default_factory=TokenStreams)
    started_us: int = field(default_factory=now_us)
    bootstrap_token: str = ""  # set only on the very first start
    agent_port: int = 0  # bound agent port (known after bind; config may say 0)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)  # run first
    # What other parts add to every box's Connect stream (watchlists: evidence requests and
    # answers): called with the device id after its Welcome, and per AgentMessage kind the
    # stream itself does not handle, with the device and that message's body.
    on_agent_connect: list[Callable[[str], Awaitable[None]]] = field(default_factory=list)
    agent_messages: dict[str, Callable[[Device, Any], Awaitable[None]]] = field(
        default_factory=dict
    )

    @classmethod
    async def open(cls, settings: FleetSettings) -> FleetApp:
        """Open (or on first start create) store and CA; start the ingest writer."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.data_dir.chmod(0o700)
        ca = CertificateAuthority.load_or_create(settings.data_dir / "ca")
        store = await open_store(settings.store, settings.data_dir)
        metrics = FleetMetrics()
        broadcaster = Broadcaster(settings.subscriber_queue_events)
        expiry = ExpiryCollector()
        metrics.registry.register(expiry)
        certs = CertLifecycle(
            RenewalLimiter(settings.certificates.renewals_per_hour),
            RenewalCounters(metrics.registry),
            ExpiryRefresher(store.active_certificate_expiries, expiry),
        )
        bus = _bus(settings)
        # A shared store: other replicas commit too, so live events are merged in cursor
        # order (fleet/sequencer.py); alone on SQLite, commits go straight to subscribers.
        sequencer = Sequencer(store, broadcaster, bus) if settings.store else None
        app = cls(
            settings=settings,
            store=store,
            ca=ca,
            revocations=RevocationSet(await store.revoked_serials()),
            metrics=metrics,
            broadcaster=broadcaster,
            ingestor=Ingestor(store, sequencer or broadcaster, metrics, settings.max_group_events),
            access=AccessControl(store, metrics),
            webhooks=WebhookManager(store, broadcaster, metrics, settings),
            certs=certs,
            sequencer=sequencer,
        )
        app.replication = Replication(app, bus)
        if sequencer is not None:
            await sequencer.start()
            metrics.registry.register(ReplicaCollector(sequencer, bus))
        await bus.start(app.replication.handle, sequencer.offer if sequencer else _nowhere)
        app.ingestor.start()
        await app.webhooks.start()
        certs.refresher.start()
        app.closers.append(certs.refresher.stop)
        await app.hold_lease("webhooks", app.webhooks.set_active)
        return app

    @property
    def replica_id(self) -> str:
        """This replica's name (leases, notices, logs)."""
        return self.replication.replica_id

    async def hold_lease(self, name: str, on_change: Change) -> Lease:
        """Run a once-per-fleet job only while this replica holds lease `name` (fleet/leases.py).

        On SQLite the lease is always held; `close` releases it for the next replica.
        """
        lease = Lease(self.store, name, self.replica_id, on_change)
        await lease.start()
        self.leases.append(lease)
        return lease

    async def bootstrap(self) -> str:
        """First start only: one admin token, returned so the CLI can print it once.

        Called by the server after it bound its ports (a failed start mints nothing).
        """
        if await self.store.count_api_tokens():
            return ""
        text = await mint_admin_token(self.store, "bootstrap admin token")
        log.warning("first start: created the admin token %s", BOOTSTRAP_TOKEN_NAME)
        return text

    async def close(self) -> None:
        """Run the closers (newest first), stop webhooks and ingest, then close the store."""
        for closer in reversed(self.closers):
            await closer()
        for lease in reversed(self.leases):
            await lease.stop()
        await self.webhooks.stop()
        await self.ingestor.stop()
        await self.replication.bus.stop()
        if self.sequencer is not None:
            await self.sequencer.stop()
        await self.store.close()

    async def audit(self, actor: str, action: str, target: str, detail: str = "") -> None:
        """Append an entry to the store's audit log, stamped now."""
        await self.store.audit(AuditEntry(actor, action, target, detail, now_us()))

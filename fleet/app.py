"""The fleet's parts wired together: store, CA, revocations, sessions, ingest, fan-out.

Servicers receive one `FleetApp` rather than a dozen arguments; tests build a real one
around a temporary directory. Nothing here talks gRPC.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.access import AccessControl
from fleet.auth import Role, mint_api_token
from fleet.broadcast import Broadcaster
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
from fleet.sessions import SessionRegistry, TokenStreams
from fleet.store.base import Store
from fleet.store.records import ApiToken, AuditEntry, Device
from fleet.store.sqlite import SqliteStore
from fleet.webhooks import WebhookManager

log = logging.getLogger(__name__)

STORE_FILE = "fleet.db"
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


async def reset_admin_token(data_dir: Path) -> str:
    """`oko-fleet admin-token reset`: a new admin token for an existing fleet.

    For when the first one was lost, or leaked. Works while the fleet runs: tokens are
    read per call.
    """
    path = data_dir / STORE_FILE
    if not path.is_file():
        raise FleetError(f"no fleet store at {path}: run `oko-fleet serve` on it first")
    store = await SqliteStore.open(path)
    try:
        return await mint_admin_token(store, "admin token reset (oko-fleet admin-token reset)")
    finally:
        await store.close()


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
        store = await SqliteStore.open(settings.data_dir / STORE_FILE)
        metrics = FleetMetrics()
        broadcaster = Broadcaster(settings.subscriber_queue_events)
        expiry = ExpiryCollector()
        metrics.registry.register(expiry)
        certs = CertLifecycle(
            RenewalLimiter(settings.certificates.renewals_per_hour),
            RenewalCounters(metrics.registry),
            ExpiryRefresher(store.active_certificate_expiries, expiry),
        )
        app = cls(
            settings=settings,
            store=store,
            ca=ca,
            revocations=RevocationSet(await store.revoked_serials()),
            metrics=metrics,
            broadcaster=broadcaster,
            ingestor=Ingestor(store, broadcaster, metrics, settings.max_group_events),
            access=AccessControl(store, metrics),
            webhooks=WebhookManager(store, broadcaster, metrics, settings),
            certs=certs,
        )
        app.ingestor.start()
        await app.webhooks.start()
        certs.refresher.start()
        app.closers.append(certs.refresher.stop)
        return app

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
        await self.webhooks.stop()
        await self.ingestor.stop()
        await self.store.close()

    async def audit(self, actor: str, action: str, target: str, detail: str = "") -> None:
        """Append an entry to the store's audit log, stamped now."""
        await self.store.audit(AuditEntry(actor, action, target, detail, now_us()))

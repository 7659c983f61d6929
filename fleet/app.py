"""The fleet's parts wired together: store, CA, revocations, sessions, ingest, fan-out.

Servicers receive one `FleetApp` rather than a dozen arguments; tests build a real one
around a temporary directory. Nothing here talks gRPC.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from fleet.access import AccessControl
from fleet.auth import Role, mint_api_token
from fleet.broadcast import Broadcaster
from fleet.ca import CertificateAuthority, RevocationSet
from fleet.config import FleetSettings
from fleet.fleet_metrics import FleetMetrics
from fleet.ingest import Ingestor
from fleet.sessions import SessionRegistry, TokenStreams
from fleet.store.base import Store
from fleet.store.records import ApiToken, AuditEntry
from fleet.store.sqlite import SqliteStore
from fleet.webhooks import WebhookManager

log = logging.getLogger(__name__)

STORE_FILE = "fleet.db"
BOOTSTRAP_TOKEN_NAME = "bootstrap-admin"


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass
class FleetApp:
    settings: FleetSettings
    store: Store
    ca: CertificateAuthority
    revocations: RevocationSet
    metrics: FleetMetrics
    broadcaster: Broadcaster
    ingestor: Ingestor
    access: AccessControl
    webhooks: WebhookManager
    sessions: SessionRegistry = field(default_factory=SessionRegistry)
    streams: TokenStreams = field(default_factory=TokenStreams)
    started_us: int = field(default_factory=now_us)
    bootstrap_token: str = ""  # set only on the very first start
    agent_port: int = 0  # bound agent port (known after bind; config may say 0)

    @classmethod
    async def open(cls, settings: FleetSettings) -> FleetApp:
        """Open (or on first start create) store and CA; start the ingest writer."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.data_dir.chmod(0o700)
        ca = CertificateAuthority.load_or_create(settings.data_dir / "ca")
        store = await SqliteStore.open(settings.data_dir / STORE_FILE)
        metrics = FleetMetrics()
        broadcaster = Broadcaster(settings.subscriber_queue_events)
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
        )
        app.bootstrap_token = await app._bootstrap()
        app.ingestor.start()
        await app.webhooks.start()
        return app

    async def _bootstrap(self) -> str:
        """First start only: one admin token, returned so the CLI can print it once."""
        if await self.store.count_api_tokens():
            return ""
        minted = mint_api_token()
        at = now_us()
        await self.store.add_api_token(
            ApiToken(
                token_id=minted.token_id,
                name=BOOTSTRAP_TOKEN_NAME,
                role=int(Role.ADMIN),
                secret_hash=minted.secret_hash,
                created_us=at,
            )
        )
        await self.store.audit(
            AuditEntry("fleet", "token.create", minted.token_id, "bootstrap admin token", at)
        )
        log.warning("first start: created admin token %s", minted.token_id)
        return minted.text

    async def close(self) -> None:
        await self.webhooks.stop()
        await self.ingestor.stop()
        await self.store.close()

    async def audit(self, actor: str, action: str, target: str, detail: str = "") -> None:
        await self.store.audit(AuditEntry(actor, action, target, detail, now_us()))

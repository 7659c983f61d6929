"""The fleet store on PostgreSQL: several fleet replicas share one database.

Driver: asyncpg (bench/pg_drivers.py measured its COPY at ~1.2x psycopg 3's binary COPY
in events/s with ~0.7x the client CPU per event, on this machine; docs/scale.md). One
connection pool per process; every method is one transaction (`_tx`) or one read
(`_read`). Each area's queries live in their own module (`pg_events`, `pg_registry`,
`pg_hooks`, `pg_retention`, `pg_watchlists`, `pg_certs`,
`pg_dead_letters`, `pg_evidence`, `pg_models`), like the `sqlite_*` modules.

Concurrency between replicas is the database's: row locks where a read decides a write
(enrollment tokens, alert decisions), transaction-scoped advisory locks where a decision
covers rows that may not exist yet (config versions, the audit chain), and the cursor
counter row for ingest (pg_events). Deadlocks and serialization failures are retried.

The schema is Alembic's (`oko-fleet migrate`, fleet/store/pg_migrate.py); `open` refuses
a database whose revision is not this code's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from typing_extensions import override

from fleet.errors import FleetError, StoreError, StoreValueError
from fleet.store import pg_events as ev
from fleet.store import pg_hooks as hooks
from fleet.store import pg_retention as retention
from fleet.store.base import Store
from fleet.store.pg_artifacts import ArtifactMixin
from fleet.store.pg_audit import AuditGroups
from fleet.store.pg_certs import CertMixin
from fleet.store.pg_config_batch import ConfigBatchMixin
from fleet.store.pg_dead_letters import DeadLetterMixin
from fleet.store.pg_evidence import EvidenceMixin
from fleet.store.pg_migrate import head_revision
from fleet.store.pg_models import ModelMixin
from fleet.store.pg_registry import RegistryMixin
from fleet.store.pg_rollouts import RolloutMixin
from fleet.store.pg_url import redact
from fleet.store.pg_watchlists import WatchlistMixin
from fleet.store.records import (
    AuditEntry,
    EventQuery,
    IngestCommit,
    NewEvent,
    PurgeRule,
    PurgeStep,
    StoredEvent,
    StoreStats,
    Webhook,
    WebhookProgress,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
Conn = asyncpg.Connection
_RETRIES = 5
_POOL_MAX = 16
# Generous: after a replica restart thousands of boxes reconnect at once, each with a
# store write; they queue for a connection rather than fail and come back again.
_ACQUIRE_TIMEOUT_S = 30.0
_COMMAND_TIMEOUT_S = 60.0
_CONNECTION_ERRORS = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


class PostgresStore(
    RegistryMixin,
    WatchlistMixin,
    CertMixin,
    DeadLetterMixin,
    EvidenceMixin,
    ModelMixin,
    ArtifactMixin,
    RolloutMixin,
    ConfigBatchMixin,
    Store,
):
    """`fleet.store.base.Store` on PostgreSQL. Create with `await PostgresStore.open(url)`."""

    def __init__(self, url: str, pool: asyncpg.Pool) -> None:
        self.url = url
        self.description = f"postgresql:{redact(url)}"
        self._pool = pool
        self._partitions: set[int] = set()
        self._audit = AuditGroups(self._write_audit)

    @classmethod
    async def open(cls, url: str, pool_size: int = _POOL_MAX) -> PostgresStore:
        """Connect, check the schema revision, create today's and tomorrow's partitions."""
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=pool_size,
                command_timeout=_COMMAND_TIMEOUT_S,
                timeout=_ACQUIRE_TIMEOUT_S,
            )
        except (*_CONNECTION_ERRORS, asyncpg.PostgresError) as err:
            raise StoreError(f"cannot connect to {redact(url)}: {err}") from err
        store = cls(url, pool)
        try:
            await store._check_revision()
            await store.ensure_partitions(ev.today(), ev.today() + 1)
        except BaseException:
            await pool.close()
            raise
        return store

    async def _check_revision(self) -> None:
        want = head_revision()
        have = await self._read(_revision)
        if have != want:
            where = f"is at schema revision {have}" if have else "has no fleet schema"
            raise StoreError(
                f"{redact(self.url)} {where}, this fleet needs {want}: "
                f"run `oko-fleet migrate --store {redact(self.url)}` first"
            )

    @override
    async def close(self) -> None:
        try:
            await asyncio.wait_for(self._pool.close(), 10)
        except (TimeoutError, *_CONNECTION_ERRORS):
            self._pool.terminate()

    async def _attempt(self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...], tx: bool) -> T:
        async with self._pool.acquire(timeout=_ACQUIRE_TIMEOUT_S) as conn:
            if not tx:
                return await fn(conn, *args)
            async with conn.transaction():
                return await fn(conn, *args)

    async def _run(self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...], tx: bool) -> T:
        """Run with the store's error contract: only `fleet.errors` leave this."""
        for attempt in range(_RETRIES):
            try:
                return await self._attempt(fn, args, tx)
            except asyncpg.TransactionRollbackError as err:  # deadlock, serialization
                if attempt + 1 == _RETRIES:
                    raise StoreError(f"store {self.description}: {err}") from err
                log.info("store transaction retried after %s", type(err).__name__)
                await asyncio.sleep(0.01 * 2**attempt)
            except FleetError:
                raise
            except (asyncpg.DataError, OverflowError, ValueError) as err:
                # Values the database cannot hold (beyond 64 bits, NUL in text): the data
                # is at fault, so the caller learns which request rather than "store failed".
                raise StoreValueError(f"store cannot hold a value: {err}") from err
            except (*_CONNECTION_ERRORS, asyncpg.PostgresError) as err:
                log.error("store %s failed: %s", self.description, err)
                raise StoreError(f"store {self.description}: {err}") from err
            except Exception as err:
                log.exception("store %s: unexpected error", self.description)
                raise FleetError(f"store: internal error {type(err).__name__}") from err
        raise AssertionError("unreachable")

    async def _tx(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """`fn(conn, *args)` in one transaction, retried on deadlock or serialization failure."""
        return await self._run(fn, args, tx=True)

    async def _read(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """`fn(conn, *args)` on a pooled connection, outside an explicit transaction."""
        return await self._run(fn, args, tx=False)

    async def ensure_partitions(self, *days: int) -> None:
        """Create the event partitions of these days (day numbers since the epoch) if missing."""
        for day in days:
            if day not in self._partitions:
                await self._tx(ev.ensure_partition, day)
                self._partitions.add(day)

    # Events.
    @override
    async def ingest(self, batches: Sequence[Sequence[NewEvent]], received_us: int) -> IngestCommit:
        await self.ensure_partitions(ev.day_of(received_us))
        return await self._tx(ev.ingest, batches, received_us)

    @override
    async def read_events(self, query: EventQuery) -> list[StoredEvent]:
        return await self._read(ev.read_events, query)

    @override
    async def last_cursor(self) -> int:
        return await self._read(ev.read_last_cursor)

    @override
    async def purge_events(self, rule: PurgeRule, before_us: int, limit: int) -> PurgeStep:
        step = await self._tx(retention.purge_events, rule, before_us, limit)
        if step.done:
            dropped = await self._tx(retention.drop_empty_partitions, before_us)
            self._partitions.difference_update(dropped)
        return step

    @override
    async def purge_alerts(self, before_us: int, limit: int) -> int:
        return await self._tx(retention.purge_alerts, before_us, limit)

    @override
    async def stats(self) -> StoreStats:
        return await self._read(_stats)

    # Webhooks.
    @override
    async def add_webhook(self, hook: Webhook) -> None:
        await self._tx(hooks.add_webhook, hook)

    @override
    async def list_webhooks(self) -> list[Webhook]:
        return await self._read(hooks.list_webhooks)

    @override
    async def delete_webhook(self, webhook_id: str) -> None:
        await self._tx(hooks.delete_webhook, webhook_id)

    @override
    async def webhook_progress(self, progress: WebhookProgress) -> None:
        await self._tx(hooks.webhook_progress, progress)

    # Audit.
    @override
    async def audit(self, entry: AuditEntry) -> None:
        await self._audit.append(entry)

    async def _write_audit(self, entries: Sequence[AuditEntry]) -> None:
        await self._tx(hooks.audit, entries)

    async def verify_audit(self) -> int:
        """Recompute the audit hash chain: the entry count, or -(seq) of the first broken entry."""
        return await self._read(hooks.verify_audit)

    # Leases (fleet/leases.py): which replica runs a singleton job.
    async def acquire_lease(self, name: str, holder: str, now_us: int, ttl_us: int) -> bool:
        """Take or renew lease `name` for `holder` until now + ttl; False if another holds it."""
        return await self._tx(hooks.acquire_lease, name, holder, now_us, ttl_us)

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up (only if `holder` has it), so another replica takes it at once."""
        await self._tx(hooks.release_lease, name, holder)


async def _revision(conn: Conn) -> str | None:
    exists = await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
    if not exists:
        return None
    value = await conn.fetchval("SELECT version_num FROM alembic_version")
    return str(value) if value is not None else None


async def _stats(conn: Conn) -> StoreStats:
    row = await conn.fetchrow(
        "SELECT count(*), count(*) FILTER (WHERE status = 'revoked') FROM devices"
    )
    assert row is not None
    return StoreStats(
        devices=int(row[0]),
        devices_revoked=int(row[1]),
        events=await ev.count_events(conn),
        last_cursor=await ev.read_last_cursor(conn),
        webhook_dead_letters=await hooks.dead_letter_total(conn),
    )

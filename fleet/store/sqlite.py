"""The embedded fleet store: one SQLite file in WAL mode.

Threading: every write runs on one dedicated writer thread with one connection (SQLite
allows one writer anyway; a single thread makes that explicit and lets the ingest path
group several agents' batches into one fsync). Reads run on a small pool of reader
threads with their own connections, which WAL lets proceed while the writer commits, so
subscribers and okoctl never wait behind ingest. `synchronous=FULL`: a commit that
returned is on disk, which is what an acknowledgement promises.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from typing_extensions import override

from fleet.errors import FleetError, StoreError, StoreValueError
from fleet.store import sqlite_events as ev
from fleet.store import sqlite_hooks as hooks
from fleet.store import sqlite_registry as reg
from fleet.store import sqlite_retention as retention
from fleet.store.base import Store
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
    PurgeRule,
    PurgeStep,
    StateReportRecord,
    StoredEvent,
    StoreStats,
    Webhook,
    WebhookProgress,
)
from fleet.store.sqlite_cert_store import CertStoreMixin
from fleet.store.sqlite_config_batch import ConfigBatchStoreMixin
from fleet.store.sqlite_dead_letters import DeadLetterStoreMixin
from fleet.store.sqlite_evidence import EvidenceStoreMixin
from fleet.store.sqlite_gallery_store import GalleryStoreMixin
from fleet.store.sqlite_model_store import ModelStoreMixin
from fleet.store.sqlite_rollout_store import RolloutStoreMixin
from fleet.store.sqlite_schema import DDL
from fleet.store.sqlite_watchlist_store import WatchlistStoreMixin

log = logging.getLogger(__name__)
T = TypeVar("T")
_READERS = 2
_CHECKPOINT_EVERY_S = 1.0
_BACKSTOP_CHECKPOINT_PAGES = 50_000


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    # 32 MiB page cache per connection: the event-id and camera indexes stay in memory,
    # which keeps inserts of a few thousand rows per commit from waiting on page reads.
    conn.execute("PRAGMA cache_size=-32768")
    # A backstop only: `_checkpoints` copies the WAL back into the database from its own
    # connection, so commits (and the acks waiting on them) do not pay for it.
    conn.execute(f"PRAGMA wal_autocheckpoint={_BACKSTOP_CHECKPOINT_PAGES}")
    return conn


class SqliteStore(
    WatchlistStoreMixin,
    GalleryStoreMixin,
    EvidenceStoreMixin,
    CertStoreMixin,
    DeadLetterStoreMixin,
    ModelStoreMixin,
    RolloutStoreMixin,
    ConfigBatchStoreMixin,
    Store,
):
    """`fleet.store.base.Store` on SQLite. Create with `await SqliteStore.open(path)`.

    Methods marked `@override` keep the contract documented on `Store`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"sqlite:{path}"
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="store-writer")
        self._readers = ThreadPoolExecutor(_READERS, thread_name_prefix="store-reader")
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._last_cursor = 0
        self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="store-checkpoint")
        self._checkpoint_task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        """Create the file and schema if missing and start background WAL checkpoints."""
        store = cls(path)
        await store._run(store._writer, store._init)
        store._checkpoint_task = asyncio.get_running_loop().create_task(store._checkpoints())
        return store

    async def _checkpoints(self) -> None:
        """PASSIVE checkpoints never block the writer; they just do what they can."""
        conn = await self._run(self._checkpointer, _connect, self.path)
        try:
            while True:
                await asyncio.sleep(_CHECKPOINT_EVERY_S)
                try:
                    await self._run(
                        self._checkpointer, conn.execute, "PRAGMA wal_checkpoint(PASSIVE)"
                    )
                except StoreError as err:
                    log.warning("checkpoint failed (will retry): %s", err)
        finally:
            # On the checkpoint thread, after the checkpoint it may still be running: when
            # this task is cancelled mid-checkpoint, closing the connection here, from the
            # event loop's thread, freed it under that thread (a segfault in tests).
            self._checkpointer.submit(conn.close)

    def _init(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = _connect(self.path)
        self._conn.executescript(DDL)
        # Purged face embeddings must not linger in free pages of the file: deletes
        # overwrite the freed content (only the purge deletes events, so ingest pays nothing).
        self._conn.execute("PRAGMA secure_delete=ON")
        self._last_cursor = ev.read_last_cursor(self._conn)

    @override
    async def close(self) -> None:
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            await asyncio.gather(self._checkpoint_task, return_exceptions=True)
        self._checkpointer.shutdown(wait=True)

        def _close_writer() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await self._run(self._writer, _close_writer)
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        with self._lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    async def _run(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, fn, *args)
        except FleetError:
            raise
        except sqlite3.Error as err:
            log.error("store %s failed: %s", self.path, err)
            raise StoreError(f"store {self.path}: {err}") from err
        except RuntimeError as err:  # executor shut down: the server is stopping
            raise StoreError(f"store {self.path} is closed") from err
        except (OverflowError, ValueError, TypeError) as err:
            # sqlite3 raises these for values it cannot bind (an int beyond 64 bits): the
            # data is at fault, so the caller learns which request, not "store failed".
            raise StoreValueError(f"store cannot hold a value: {err}") from err
        except Exception as err:
            log.exception("store %s: unexpected error", self.path)
            raise FleetError(f"store {self.path}: internal error {type(err).__name__}") from err

    def _in_transaction(self, fn: Callable[..., T], *args: Any) -> T:
        conn = self._conn
        if conn is None:
            raise sqlite3.OperationalError("store is closed")
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn, *args)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._run(self._writer, self._in_transaction, fn, *args)

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path)
            self._local.conn = conn
            with self._lock:
                self._reader_conns.append(conn)
        return conn

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._run(self._readers, lambda: fn(self._reader(), *args))

    # Events.
    def _ingest_sync(self, batches: Sequence[Sequence[NewEvent]], received_us: int) -> IngestCommit:
        """Ingest on the writer thread, so reading and advancing the cursor cannot race.

        The cursor moves only after COMMIT returned (a rolled-back batch must not move it).
        """
        commit = self._in_transaction(ev.ingest, batches, received_us, self._last_cursor)
        self._last_cursor = commit.last_cursor
        return commit

    @override
    async def ingest(self, batches: Sequence[Sequence[NewEvent]], received_us: int) -> IngestCommit:
        return await self._run(self._writer, self._ingest_sync, batches, received_us)

    @override
    async def read_events(self, query: EventQuery) -> list[StoredEvent]:
        return await self._read(ev.read_events, query)

    @override
    async def last_cursor(self) -> int:
        return await self._read(ev.read_last_cursor)

    @override
    async def purge_events(self, rule: PurgeRule, before_us: int, limit: int) -> PurgeStep:
        return await self._write(retention.purge_events, rule, before_us, limit)

    @override
    async def purge_alerts(self, before_us: int, limit: int) -> int:
        return await self._write(retention.purge_alerts, before_us, limit)

    @override
    async def stats(self) -> StoreStats:
        def _stats(conn: sqlite3.Connection) -> StoreStats:
            devices = conn.execute(
                "SELECT count(*), coalesce(sum(status = 'revoked'), 0) FROM devices"
            ).fetchone()
            return StoreStats(
                devices=int(devices[0]),
                devices_revoked=int(devices[1]),
                events=ev.count_events(conn),
                last_cursor=ev.read_last_cursor(conn),
                webhook_dead_letters=hooks.dead_letter_total(conn),
            )

        return await self._read(_stats)

    # Tokens.
    @override
    async def add_api_token(self, token: ApiToken) -> None:
        await self._write(reg.add_api_token, token)

    @override
    async def get_api_token(self, token_id: str) -> ApiToken | None:
        return await self._read(reg.get_api_token, token_id)

    @override
    async def count_api_tokens(self) -> int:
        return len(await self._read(reg.list_api_tokens))

    @override
    async def list_api_tokens(self) -> list[ApiToken]:
        return await self._read(reg.list_api_tokens)

    @override
    async def delete_api_token(self, token_id: str) -> ApiToken | None:
        return await self._write(reg.delete_api_token, token_id)

    @override
    async def add_enrollment_token(self, token: EnrollmentToken) -> None:
        await self._write(reg.add_enrollment_token, token)

    @override
    async def get_enrollment_token(self, token_id: str) -> EnrollmentToken | None:
        return await self._read(reg.get_enrollment_token, token_id)

    @override
    async def list_enrollment_tokens(self) -> list[EnrollmentToken]:
        return await self._read(reg.list_enrollment_tokens)

    # Devices.
    @override
    async def enroll_device(self, token_id: str, secret_hash: str, device: Device) -> Device:
        return await self._write(reg.enroll_device, token_id, secret_hash, device)

    @override
    async def get_device(self, device_id: str) -> Device | None:
        return await self._read(reg.get_device, device_id)

    @override
    async def get_device_by_serial(self, serial: str) -> Device | None:
        return await self._read(reg.get_device_by_serial, serial)

    @override
    async def list_devices(self, site: str = "") -> list[Device]:
        return await self._read(reg.list_devices, site)

    @override
    async def revoked_serials(self) -> set[str]:
        return await self._read(reg.revoked_serials)

    @override
    async def revoke_device(self, device_id: str, reason: str, at_us: int) -> Device:
        return await self._write(reg.revoke_device, device_id, reason, at_us)

    @override
    async def record_hello(self, device_id: str, agent_version: str, at_us: int) -> None:
        await self._write(reg.record_hello, device_id, agent_version, at_us)

    @override
    async def record_health(self, device_id: str, health: DeviceHealth) -> None:
        await self._write(reg.record_health, device_id, health)

    @override
    async def record_state(self, device_id: str, report: StateReportRecord) -> None:
        await self._write(reg.record_state, device_id, report)

    @override
    async def list_cameras(self, device_id: str = "", site: str = "") -> list[CameraStatus]:
        return await self._read(reg.list_cameras, device_id, site)

    # Desired state.
    @override
    async def get_config_docs(self, device_id: str) -> dict[str, ConfigDoc]:
        docs = await self._read(reg.get_config_docs, device_id)
        docs.pop(reg.RENDERED_SCOPE, None)
        return docs

    @override
    async def get_desired(self, device_id: str) -> ConfigDoc | None:
        docs = await self._read(reg.get_config_docs, device_id)
        return docs.get(reg.RENDERED_SCOPE)

    @override
    async def put_config(self, doc: ConfigDoc, rendered: ConfigDoc, expected_version: int) -> None:
        await self._write(reg.put_config, doc, rendered, expected_version)

    # Webhooks.
    @override
    async def add_webhook(self, hook: Webhook) -> None:
        await self._write(hooks.add_webhook, hook)

    @override
    async def list_webhooks(self) -> list[Webhook]:
        return await self._read(hooks.list_webhooks)

    @override
    async def delete_webhook(self, webhook_id: str) -> None:
        await self._write(hooks.delete_webhook, webhook_id)

    @override
    async def webhook_progress(self, progress: WebhookProgress) -> None:
        await self._write(hooks.webhook_progress, progress)

    # Audit.
    @override
    async def audit(self, entry: AuditEntry) -> None:
        await self._write(hooks.audit, entry)

    async def verify_audit(self) -> int:
        """Recompute the audit hash chain: the entry count, or -(seq) of the first broken entry."""
        return await self._read(hooks.verify_audit)

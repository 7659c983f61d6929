"""Durable, bounded, ordered on-disk event queue (SQLite in WAL mode).

Events enter with `append` (one transaction per batch, so a crash keeps a batch whole or
not at all), leave only through `ack` once the fleet has confirmed a durable commit, and are
read in append order with `peek_batch` - one global order, hence per-camera order too.

Durability: WAL with ``synchronous=FULL`` by default. WAL+NORMAL already survives the agent
being killed (the commit is in the OS page cache), but a power cut - routine for a box on a
street pole - can roll back the last commits, and those events were already handed over by
the pipeline: a silent loss. FULL costs one fsync per *batch* commit: `bench/spool.py`
measured ~2,700 events/s with 10-event appends (~350/s one at a time) on the dev VM, against
a busy 4-camera box's ~2 events/s. NORMAL stays selectable for flash that must be spared.

One process owns a spool: the connection takes SQLite's exclusive lock at open, so a second
agent on the same data dir fails loudly instead of corrupting the in-memory byte counters.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agent.errors import SpoolError
from agent.spool.policy import Priority, priority_of
from agent.spool.sqlite_open import explain, open_database
from proto.oko.v1 import events_pb2

log = logging.getLogger(__name__)

# Why an event left the spool without being delivered.
DROP_FULL = "full"  # the drop policy made room
DROP_REJECTED = "rejected"  # the fleet acknowledged it as malformed (never storable)
DROP_DISK_FULL = "disk_full"  # the disk had no room to store it
DROP_WRITE_FAILED = "write_failed"  # storing it failed otherwise (the box counted it)
_BATCH_ID_BLOCK = 1024  # batch ids reserved per meta write
MAX_EVENT_BYTES = 1 << 20  # a quarter of the wire limit: a face event is ~1.3 KB


class SpoolFullError(SpoolError):
    """The spool's disk is full: nothing can be written until space returns.

    Recoverable: the connection keeps working, and the next write after space is freed
    succeeds. Events that could not be stored are counted as drops (`DROP_DISK_FULL`).
    """


@dataclass(frozen=True)
class SpooledEvent:
    """One stored event: `payload` is the serialized `oko.v1.Event`."""

    seq: int
    event_id: str
    camera_id: str
    payload: bytes
    priority: Priority = Priority.ROUTINE


@dataclass(frozen=True)
class DropCount:
    """Events (and their payload bytes) the drop policy discarded for one camera, ever."""

    events: int
    bytes: int


@dataclass(frozen=True)
class AppendResult:
    """What one `append` did: stored, already present (same event id), dropped to fit."""

    stored: int
    duplicates: int
    dropped: int


class Spool:
    """The agent's store-and-forward queue. Thread-safe: one connection behind a lock."""

    def __init__(
        self,
        path: str | Path,
        max_bytes: int = 512 * 1024 * 1024,
        max_events: int = 2_000_000,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        if max_bytes <= 0 or max_events <= 0:
            raise SpoolError(f"{path}: max_bytes and max_events must be positive")
        if synchronous not in ("FULL", "NORMAL"):
            raise SpoolError(f"{path}: synchronous must be FULL or NORMAL, got {synchronous!r}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_events = max_events
        self._lock = threading.Lock()
        self._conn = open_database(self.path, synchronous)
        self._rows, self._bytes = self._count()
        self._batch_next = self._batch_limit = 0
        # Events a full disk kept out, not yet written to the drops table (which needs the
        # disk too): (camera, size, reason), recorded by the next transaction that commits.
        self._unrecorded: list[tuple[str, int, str]] = []

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        """One locked write transaction; any SQLite failure becomes a `SpoolError`."""
        with self._lock:
            try:
                cur = self._conn.cursor()
            except sqlite3.Error as err:  # e.g. ProgrammingError: the spool was closed
                raise SpoolError(explain(self.path, err)) from err
            pending = self._unrecorded
            try:
                cur.execute("BEGIN IMMEDIATE")
                for reason in sorted({r for _, _, r in pending}):
                    lost = [(cam, size) for cam, size, r in pending if r == reason]
                    self._count_drops(cur, lost, reason)
                yield cur
                cur.execute("COMMIT")
                if pending:
                    self._unrecorded = []
            except sqlite3.Error as err:
                self._rollback_and_recount(cur)
                raise _spool_error(self.path, err) from err
            except BaseException:
                self._rollback_and_recount(cur)
                raise
            finally:
                # A cursor kept alive by a traceback would keep its statement open, and
                # close() would then leave the file (and its exclusive lock) held.
                cur.close()

    def _rollback_and_recount(self, cur: sqlite3.Cursor) -> None:
        try:
            if self._conn.in_transaction:
                cur.execute("ROLLBACK")
            self._rows, self._bytes = self._count_unlocked()
        except sqlite3.Error:
            log.exception("spool %s: rollback failed", self.path)

    def _count(self) -> tuple[int, int]:
        with self._lock:
            try:
                return self._count_unlocked()
            except sqlite3.Error as err:
                raise SpoolError(explain(self.path, err)) from err

    def _count_unlocked(self) -> tuple[int, int]:
        rows, size = self._conn.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM events"
        ).fetchone()
        return int(rows), int(size)

    # -- writing ---------------------------------------------------------------------------

    def append(self, events: Iterable[events_pb2.Event]) -> AppendResult:
        """Store a batch atomically; re-appending a known event id is a no-op, not an error.

        When the batch pushes the spool over its bounds, the drop policy (see
        `agent.spool.policy`) discards the oldest least-valuable events in the same
        transaction, counting them per camera.
        """
        rows = []
        now = time.time()
        for event in events:
            if not event.event_id or not event.camera_id:
                raise SpoolError(
                    f"{self.path}: event without event_id/camera_id refused "
                    f"(event_id={event.event_id!r}, camera_id={event.camera_id!r})"
                )
            payload = event.SerializeToString()
            if len(payload) > MAX_EVENT_BYTES:
                # It could never be sent (gRPC's message limit) and would wedge the queue.
                raise SpoolError(
                    f"{self.path}: event {event.event_id} is {len(payload)} bytes, limit "
                    f"{MAX_EVENT_BYTES}; batch refused"
                )
            rows.append((event.event_id, event.camera_id, int(priority_of(event)), now, payload))
        if not rows:
            return AppendResult(0, 0, 0)
        try:
            return self._insert(rows)
        except SpoolFullError:
            with self._lock:
                self._unrecorded.extend((row[1], len(row[4]), DROP_DISK_FULL) for row in rows)
            raise

    def count_unstored(self, events: Iterable[events_pb2.Event], reason: str) -> None:
        """Count events the caller could not hand over (e.g. its own file hit the full disk).

        They are drops like any other - per camera, in /metrics and heartbeats - recorded
        in the drop table by the next commit (the disk may be full right now).
        """
        lost = [(e.camera_id, e.ByteSize(), reason) for e in events]
        with self._lock:
            self._unrecorded.extend(lost)

    def _insert(self, rows: list[tuple[str, str, int, float, bytes]]) -> AppendResult:
        with self._transaction() as cur:
            before = self._conn.total_changes
            cur.executemany(
                "INSERT OR IGNORE INTO events"
                "(event_id, camera_id, priority, created, size, payload)"
                " VALUES (?, ?, ?, ?, length(?5), ?5)",
                rows,
            )
            stored = self._conn.total_changes - before
            self._rows += stored
            self._bytes += self._inserted_bytes(cur, stored)
            dropped = self._enforce_bounds(cur)
        return AppendResult(stored=stored, duplicates=len(rows) - stored, dropped=dropped)

    @staticmethod
    def _inserted_bytes(cur: sqlite3.Cursor, stored: int) -> int:
        if stored == 0:
            return 0
        # The newest `stored` rows are exactly this batch's inserts (AUTOINCREMENT, one writer).
        row = cur.execute(
            "SELECT coalesce(sum(size), 0) FROM "
            "(SELECT size FROM events ORDER BY seq DESC LIMIT ?)",
            (stored,),
        ).fetchone()
        return int(row[0])

    def _enforce_bounds(self, cur: sqlite3.Cursor) -> int:
        over_rows = self._rows - self.max_events
        over_bytes = self._bytes - self.max_bytes
        if over_rows <= 0 and over_bytes <= 0:
            return 0
        victims: list[tuple[int, str, int]] = []
        for priority in sorted(Priority):
            rows = cur.execute(
                "SELECT seq, camera_id, size FROM events WHERE priority = ? ORDER BY seq",
                (int(priority),),
            )
            for seq, camera_id, size in rows:
                if over_rows <= 0 and over_bytes <= 0:
                    break
                victims.append((seq, camera_id, size))
                over_rows -= 1
                over_bytes -= size
            if over_rows <= 0 and over_bytes <= 0:
                break
        cur.executemany("DELETE FROM events WHERE seq = ?", [(v[0],) for v in victims])
        self._rows -= len(victims)
        self._bytes -= sum(v[2] for v in victims)
        per_camera = self._count_drops(cur, [(cam, size) for _, cam, size in victims], DROP_FULL)
        log.warning(
            "spool %s full: dropped %d event(s) (%s)",
            self.path,
            len(victims),
            ", ".join(f"{cam}={n}" for cam, n in per_camera.items()),
        )
        return len(victims)

    @staticmethod
    def _count_drops(
        cur: sqlite3.Cursor, dropped: Sequence[tuple[str, int]], reason: str
    ) -> dict[str, int]:
        """Add (camera, size) drops to the persistent counters, in the caller's transaction."""
        per_camera: dict[str, list[int]] = {}
        for camera_id, size in dropped:
            per_camera.setdefault(camera_id, []).append(size)
        cur.executemany(
            "INSERT INTO drops(camera_id, reason, events, bytes) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(camera_id, reason) DO UPDATE SET "
            "events = events + excluded.events, bytes = bytes + excluded.bytes",
            [(cam, reason, len(sizes), sum(sizes)) for cam, sizes in per_camera.items()],
        )
        return {cam: len(sizes) for cam, sizes in per_camera.items()}

    def ack(self, event_ids: Sequence[str], rejected_ids: Sequence[str] = ()) -> int:
        """Delete events the fleet has durably committed; unknown ids are ignored.

        `rejected_ids` (a subset the fleet refused as malformed) are deleted too - resending
        cannot fix them - and counted as drops with reason ``rejected``.
        """
        if not event_ids and not rejected_ids:
            return 0
        rejected = set(rejected_ids)
        with self._transaction() as cur:
            removed = 0
            freed = 0
            lost: list[tuple[str, int]] = []
            for event_id in dict.fromkeys([*event_ids, *rejected_ids]):
                row = cur.execute(
                    "DELETE FROM events WHERE event_id = ? RETURNING camera_id, size",
                    (event_id,),
                ).fetchone()
                if row is None:
                    continue
                removed += 1
                freed += int(row[1])
                if event_id in rejected:
                    lost.append((str(row[0]), int(row[1])))
            self._rows -= removed
            self._bytes -= freed
            if lost:
                self._count_drops(cur, lost, DROP_REJECTED)
        return removed

    def next_batch_id(self) -> int:
        """A batch id never handed out before by this spool, also across restarts.

        Ids are reserved from the database in blocks, so only one in `_BATCH_ID_BLOCK`
        calls writes; a crash skips the rest of a block, which is harmless.
        """
        with self._lock:
            if self._batch_next >= self._batch_limit:
                self._reserve_batch_ids()
            self._batch_next += 1
            return self._batch_next

    def _reserve_batch_ids(self) -> None:
        cur = self._conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            row = cur.execute("SELECT value FROM meta WHERE key = 'batch_id'").fetchone()
            start = int(row[0]) if row else 0
            limit = start + _BATCH_ID_BLOCK
            cur.execute(
                "INSERT INTO meta(key, value) VALUES ('batch_id', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (limit,),
            )
            cur.execute("COMMIT")
        except sqlite3.Error as err:
            if self._conn.in_transaction:
                cur.execute("ROLLBACK")
            raise _spool_error(self.path, err) from err
        finally:
            cur.close()
        self._batch_next, self._batch_limit = start, limit

    # -- reading ---------------------------------------------------------------------------

    def peek_batch(
        self, max_events: int = 500, max_bytes: int = 1 << 20, after_seq: int = 0
    ) -> list[SpooledEvent]:
        """The oldest events with `seq > after_seq`, in order, within both limits.

        Always returns at least one event when any is waiting, even one larger than
        `max_bytes`, so an oversized event can never wedge the queue.
        """
        out: list[SpooledEvent] = []
        total = 0
        with self._lock:
            try:
                rows = self._conn.execute(
                    "SELECT seq, event_id, camera_id, payload, priority FROM events "
                    "WHERE seq > ? ORDER BY seq LIMIT ?",
                    (after_seq, max_events),
                )
                for seq, event_id, camera_id, payload, priority in rows:
                    if out and total + len(payload) > max_bytes:
                        break
                    item = SpooledEvent(
                        seq, event_id, camera_id, bytes(payload), Priority(priority)
                    )
                    out.append(item)
                    total += len(payload)
            except sqlite3.Error as err:
                raise SpoolError(explain(self.path, err)) from err
        return out

    def depth(self) -> int:
        """Events waiting for an ack."""
        return self._rows

    def bytes(self) -> int:
        """Payload bytes waiting for an ack (the quantity `max_bytes` bounds)."""
        return self._bytes

    def depth_by_camera(self) -> dict[str, int]:
        """Waiting events per camera, for state reports."""
        rows = self._query("SELECT camera_id, count(*) FROM events GROUP BY camera_id")
        return {str(cam): int(n) for cam, n in rows}

    def drops(self) -> dict[str, DropCount]:
        """Every event ever dropped undelivered, per camera (persisted across restarts)."""
        out: dict[str, DropCount] = {}
        for (camera, _), count in self.drops_by_reason().items():
            before = out.get(camera, DropCount(0, 0))
            out[camera] = DropCount(before.events + count.events, before.bytes + count.bytes)
        return out

    def drops_by_reason(self) -> dict[tuple[str, str], DropCount]:
        """Drops per (camera, reason): `DROP_FULL`, `DROP_REJECTED`, `DROP_DISK_FULL`, ..."""
        rows = self._query("SELECT camera_id, reason, events, bytes FROM drops")
        out = {(str(c), str(r)): DropCount(int(n), int(b)) for c, r, n, b in rows}
        for camera, size, reason in list(self._unrecorded):
            key = (camera, reason)
            before = out.get(key, DropCount(0, 0))
            out[key] = DropCount(before.events + 1, before.bytes + size)
        return out

    def dropped_total(self) -> int:
        """All events ever dropped on this box (the heartbeat's monotonic counter)."""
        stored = int(self._query("SELECT coalesce(sum(events), 0) FROM drops")[0][0])
        return stored + len(self._unrecorded)

    def oldest_created(self) -> float | None:
        """Wall-clock time the oldest waiting event was spooled (None when empty)."""
        rows = self._query("SELECT created FROM events ORDER BY seq LIMIT 1")
        return float(rows[0][0]) if rows else None

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql).fetchall()
            except sqlite3.Error as err:
                raise SpoolError(explain(self.path, err)) from err

    def close(self) -> None:
        """Record pending drop counts, checkpoint the WAL and release the file lock."""
        if self._unrecorded:
            try:
                with self._transaction():
                    pass  # the transaction itself writes the pending drops
            except SpoolError:
                log.warning(
                    "spool %s: %d dropped event(s) could not be recorded (disk still full?)",
                    self.path,
                    len(self._unrecorded),
                )
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                log.warning("spool %s: checkpoint on close failed", self.path, exc_info=True)
            self._conn.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _spool_error(path: Path, err: sqlite3.Error) -> SpoolError:
    """`SpoolFullError` for a full disk (recoverable), `SpoolError` for the rest."""
    if getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return SpoolFullError(
            f"{path}: disk full ({err}); events are counted as dropped until space returns"
        )
    return SpoolError(explain(path, err))

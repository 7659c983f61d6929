"""Webhook dead letters on SQLite: listing them with their fate, and recording replays.

A dead letter is a row of `webhook_dead_letters` (written by `sqlite_hooks.webhook_progress`
when a webhook gives an event up); its key is (webhook_id, cursor). Each replay attempt is
a row of `webhook_replays`. Its state is derived, never stored twice: *replayed* once a
replay was delivered, *gone* when retention deleted its event, else *pending*.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from typing_extensions import override

from fleet.store.base import Store
from fleet.store.records import (
    DEAD_GONE,
    DEAD_PENDING,
    DEAD_REPLAYED,
    DeadLetter,
    DeadLetterQuery,
    ReplayRecord,
    StoredEvent,
)
from fleet.store.sqlite_events import _COLUMNS

T = TypeVar("T")
_CHUNK = 400  # cursors per IN (...) list, far below SQLite's parameter limit
_DELIVERED = "delivered"
_NOT_DONE = (
    "NOT EXISTS (SELECT 1 FROM webhook_replays r WHERE r.webhook_id = d.webhook_id"
    " AND r.cursor = d.cursor AND r.outcome = 'delivered')"
    " AND EXISTS (SELECT 1 FROM events e WHERE e.cursor = d.cursor)"
)


def _where(q: DeadLetterQuery) -> tuple[list[str], list[object]]:
    where = ["(d.cursor, d.webhook_id) > (?, ?)"]
    args: list[object] = [q.after[0], q.after[1]]
    if q.webhook_id:
        where.append("d.webhook_id = ?")
        args.append(q.webhook_id)
    if q.keys:
        where.append(
            "(d.webhook_id, d.cursor) IN (VALUES " + ", ".join(["(?, ?)"] * len(q.keys)) + ")"
        )
        args += [part for key in q.keys for part in key]
    if not q.include_done:
        where.append(_NOT_DONE)
    return where, args


def list_dead_letters(conn: sqlite3.Connection, q: DeadLetterQuery) -> list[DeadLetter]:
    """One page of dead letters in (cursor, webhook) order, each with its event and replays."""
    where, args = _where(q)
    rows = conn.execute(
        "SELECT d.webhook_id, d.cursor, max(d.at_us), count(*) FROM webhook_dead_letters d"
        f" WHERE {' AND '.join(where)} GROUP BY d.cursor, d.webhook_id"
        " ORDER BY d.cursor, d.webhook_id LIMIT ?",
        [*args, q.limit],
    ).fetchall()
    return [_letter(conn, *row) for row in rows]


def _letter(
    conn: sqlite3.Connection, webhook_id: str, cursor: int, failed_us: int, failures: int
) -> DeadLetter:
    (error,) = conn.execute(
        "SELECT error FROM webhook_dead_letters WHERE webhook_id = ? AND cursor = ?"
        " ORDER BY at_us DESC LIMIT 1",
        (webhook_id, cursor),
    ).fetchone()
    event = conn.execute(
        "SELECT event_id, type, camera_id, device_id, site FROM events WHERE cursor = ?",
        (cursor,),
    ).fetchone()
    replays, last_us = conn.execute(
        "SELECT count(*), coalesce(max(at_us), 0) FROM webhook_replays"
        " WHERE webhook_id = ? AND cursor = ?",
        (webhook_id, cursor),
    ).fetchone()
    last = conn.execute(
        "SELECT outcome, error FROM webhook_replays WHERE webhook_id = ? AND cursor = ?"
        " ORDER BY at_us DESC, rowid DESC LIMIT 1",
        (webhook_id, cursor),
    ).fetchone()
    delivered = last is not None and last[0] == _DELIVERED
    state = DEAD_REPLAYED if delivered else (DEAD_PENDING if event else DEAD_GONE)
    return DeadLetter(
        webhook_id=webhook_id,
        cursor=int(cursor),
        error=str(error),
        failed_us=int(failed_us),
        failures=int(failures),
        state=state,
        event_id=event[0] if event else "",
        event_type=event[1] if event else "",
        camera_id=event[2] if event else "",
        device_id=event[3] if event else "",
        site=event[4] if event else "",
        replays=int(replays),
        last_replay_us=int(last_us),
        last_replay_error=str(last[1]) if last and not delivered else "",
    )


def events_at(conn: sqlite3.Connection, cursors: Sequence[int]) -> list[StoredEvent]:
    """The stored events with these cursors (those retention kept), in cursor order."""
    out: list[StoredEvent] = []
    wanted = sorted(set(cursors))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT {_COLUMNS} FROM events WHERE cursor IN ({marks}) ORDER BY cursor"
        out += [StoredEvent._make(row) for row in conn.execute(sql, chunk)]
    return out


def record_replays(conn: sqlite3.Connection, records: Sequence[ReplayRecord]) -> None:
    """Append replay attempts."""
    conn.executemany(
        "INSERT INTO webhook_replays (webhook_id, cursor, at_us, actor, outcome, error)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(r.webhook_id, r.cursor, r.at_us, r.actor, r.outcome, r.error) for r in records],
    )


class DeadLetterStoreMixin(Store):
    """Needs the host class's `_write` (writer thread, one transaction) and `_read`."""

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` in one write transaction (the host class's)."""
        raise NotImplementedError

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` on a reader connection (the host class's)."""
        raise NotImplementedError

    @override
    async def list_dead_letters(self, query: DeadLetterQuery) -> list[DeadLetter]:
        return await self._read(list_dead_letters, query)

    @override
    async def events_at(self, cursors: Sequence[int]) -> list[StoredEvent]:
        return await self._read(events_at, cursors)

    @override
    async def record_replays(self, records: Sequence[ReplayRecord]) -> None:
        await self._write(record_replays, records)

"""Webhook dead letters on PostgreSQL: listing them with their fate, recording replays.

Same model as `sqlite_dead_letters`: a dead letter is a `webhook_dead_letters` row keyed by
(webhook_id, cursor), each replay attempt a `webhook_replays` row (bigserial `id` where
SQLite ordered by rowid); the state is derived (replayed / gone / pending).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from typing_extensions import override

from fleet.store.base import Store
from fleet.store.pg_events import SELECT_COLUMNS
from fleet.store.records import (
    DEAD_GONE,
    DEAD_PENDING,
    DEAD_REPLAYED,
    DeadLetter,
    DeadLetterQuery,
    ReplayRecord,
    StoredEvent,
)

Conn = asyncpg.Connection
T = TypeVar("T")
_DELIVERED = "delivered"
_NOT_DONE = (
    "NOT EXISTS (SELECT 1 FROM webhook_replays r WHERE r.webhook_id = d.webhook_id"
    " AND r.cursor = d.cursor AND r.outcome = 'delivered')"
    " AND EXISTS (SELECT 1 FROM events e WHERE e.cursor = d.cursor)"
)


def _where(q: DeadLetterQuery) -> tuple[list[str], list[object]]:
    args: list[object] = [q.after[0], q.after[1]]
    where = ["(d.cursor, d.webhook_id) > ($1, $2)"]
    if q.webhook_id:
        args.append(q.webhook_id)
        where.append(f"d.webhook_id = ${len(args)}")
    if q.keys:
        args += [[k[0] for k in q.keys], [k[1] for k in q.keys]]
        where.append(
            f"(d.webhook_id, d.cursor) IN (SELECT * FROM unnest(${len(args) - 1}::text[],"
            f" ${len(args)}::bigint[]))"
        )
    if not q.include_done:
        where.append(_NOT_DONE)
    return where, args


async def list_dead_letters(conn: Conn, q: DeadLetterQuery) -> list[DeadLetter]:
    """One page of dead letters in (cursor, webhook) order, each with its event and replays."""
    where, args = _where(q)
    args.append(q.limit)
    rows = await conn.fetch(
        "SELECT d.webhook_id, d.cursor, max(d.at_us), count(*) FROM webhook_dead_letters d"
        f" WHERE {' AND '.join(where)} GROUP BY d.cursor, d.webhook_id"
        f" ORDER BY d.cursor, d.webhook_id LIMIT ${len(args)}",
        *args,
    )
    return [await _letter(conn, *row) for row in rows]


async def _letter(
    conn: Conn, webhook_id: str, cursor: int, failed_us: int, failures: int
) -> DeadLetter:
    error = await conn.fetchval(
        "SELECT error FROM webhook_dead_letters WHERE webhook_id = $1 AND cursor = $2"
        " ORDER BY at_us DESC LIMIT 1",
        webhook_id,
        cursor,
    )
    event = await conn.fetchrow(
        "SELECT event_id, type, camera_id, device_id, site FROM events WHERE cursor = $1", cursor
    )
    counts = await conn.fetchrow(
        "SELECT count(*), coalesce(max(at_us), 0) FROM webhook_replays"
        " WHERE webhook_id = $1 AND cursor = $2",
        webhook_id,
        cursor,
    )
    last = await conn.fetchrow(
        "SELECT outcome, error FROM webhook_replays WHERE webhook_id = $1 AND cursor = $2"
        " ORDER BY at_us DESC, id DESC LIMIT 1",
        webhook_id,
        cursor,
    )
    assert counts is not None
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
        replays=int(counts[0]),
        last_replay_us=int(counts[1]),
        last_replay_error=str(last[1]) if last and not delivered else "",
    )


async def events_at(conn: Conn, cursors: Sequence[int]) -> list[StoredEvent]:
    """The stored events with these cursors (those retention kept), in cursor order."""
    rows = await conn.fetch(
        f"SELECT {SELECT_COLUMNS} FROM events WHERE cursor = ANY($1::bigint[]) ORDER BY cursor",
        sorted(set(cursors)),
    )
    return [StoredEvent._make(row) for row in rows]


async def record_replays(conn: Conn, records: Sequence[ReplayRecord]) -> None:
    """Append replay attempts."""
    await conn.executemany(
        "INSERT INTO webhook_replays (webhook_id, cursor, at_us, actor, outcome, error)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [(r.webhook_id, r.cursor, r.at_us, r.actor, r.outcome, r.error) for r in records],
    )


class DeadLetterMixin(Store):
    """The dead-letter part of `PostgresStore`; needs the host's `_tx` and `_read`."""

    async def _tx(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    async def _read(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    @override
    async def list_dead_letters(self, query: DeadLetterQuery) -> list[DeadLetter]:
        return await self._read(list_dead_letters, query)

    @override
    async def events_at(self, cursors: Sequence[int]) -> list[StoredEvent]:
        return await self._read(events_at, cursors)

    @override
    async def record_replays(self, records: Sequence[ReplayRecord]) -> None:
        await self._tx(record_replays, records)

"""Deleting expired events on PostgreSQL, one bounded transaction at a time.

Same walk as `sqlite_retention`: each rule walks `events` by cursor from its mark in
`meta` and stops at the first row still young (cursors are handed out in commit order, so
`received_us` rises with them). Deleted events' ids leave `event_ids` in the same
transaction. When a walk is done, day partitions that ended before the cutoff and hold
no row any more are dropped: a drop returns the space at once, where deleted rows
would wait for VACUUM.
"""

from __future__ import annotations

import asyncpg

from fleet.store.pg_events import US_PER_DAY, partition_name
from fleet.store.records import PurgeRule, PurgeStep

Conn = asyncpg.Connection


async def _mark(conn: Conn, key: str) -> int:
    value = await conn.fetchval("SELECT value FROM meta WHERE key = $1", key)
    return int(value) if value is not None else 0


async def purge_events(conn: Conn, rule: PurgeRule, before_us: int, limit: int) -> PurgeStep:
    """Delete up to `limit` rows of `rule`'s types received before `before_us`."""
    # FOR UPDATE on the mark: two replicas' passes of one rule take turns, not both.
    await conn.execute(
        "INSERT INTO meta (key, value) VALUES ($1, 0) ON CONFLICT (key) DO NOTHING", rule.key
    )
    await conn.execute("SELECT value FROM meta WHERE key = $1 FOR UPDATE", rule.key)
    mark = await _mark(conn, rule.key)
    rows = await conn.fetch(
        "SELECT cursor, type, received_us FROM events WHERE cursor > $1 ORDER BY cursor LIMIT $2",
        mark,
        limit,
    )
    doomed: list[int] = []
    done = len(rows) < limit
    for cursor, event_type, received_us in rows:
        if received_us >= before_us:
            done = True
            break
        mark = cursor
        if rule.covers(event_type):
            doomed.append(cursor)
    if doomed:
        ids = await conn.fetch(
            "DELETE FROM events WHERE cursor = ANY($1::bigint[]) RETURNING event_id", doomed
        )
        await conn.execute(
            "DELETE FROM event_ids WHERE event_id = ANY($1::text[])", [r[0] for r in ids]
        )
    await conn.execute("UPDATE meta SET value = $2 WHERE key = $1", rule.key, mark)
    return PurgeStep(deleted=len(doomed), done=done)


async def drop_empty_partitions(conn: Conn, before_us: int) -> list[int]:
    """Drop the day partitions that ended before `before_us` and are empty; their days."""
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'events'::regclass"
    )
    dropped: list[int] = []
    for (name,) in rows:
        day = int(str(name).removeprefix("events_d"))
        if (day + 1) * US_PER_DAY > before_us:
            continue
        if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {partition_name(day)})"):
            continue
        await conn.execute(f"DROP TABLE {partition_name(day)}")
        dropped.append(day)
    return dropped


async def purge_alerts(conn: Conn, before_us: int, limit: int) -> int:
    """Delete up to `limit` alerts raised before `before_us`, with decisions and evidence."""
    doomed = [
        row[0]
        for row in await conn.fetch(
            "SELECT alert_id FROM alerts WHERE raised_us < $1 ORDER BY raised_us LIMIT $2",
            before_us,
            limit,
        )
    ]
    if doomed:
        await conn.execute("DELETE FROM alert_decisions WHERE alert_id = ANY($1::text[])", doomed)
        await conn.execute("DELETE FROM alert_evidence WHERE alert_id = ANY($1::text[])", doomed)
        await conn.execute("DELETE FROM alerts WHERE alert_id = ANY($1::text[])", doomed)
    return len(doomed)

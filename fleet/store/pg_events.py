"""Event table operations on PostgreSQL: batched ingest, dedupe, the cursor, day partitions.

One ingest transaction, in this order:
1. `INSERT INTO event_ids ... ON CONFLICT DO NOTHING RETURNING event_id` with the group's
   ids, sorted: the ids that come back are new. Two replicas given the same event meet on
   the primary key; the second waits for the first's commit and then sees a conflict, so
   each id is stored once however many replicas received it. Sorting makes every
   transaction take those key locks in the same order (no deadlock between replicas).
2. `UPDATE event_counter SET value = value + n RETURNING value`: the new events' cursors
   are the n values up to the one returned. The row lock is held to commit, so a second
   replica's ingest waits here until the first has committed: cursors are assigned in
   commit order, and what any reader sees is always a prefix of the cursors (nothing
   visible above a cursor that is not). The cost is that ingest commits of all replicas
   are serial; group commit makes each one large (docs/scale.md has the measurement).
3. `COPY` of the new rows into `events` (partitioned by day of `received_us`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import asyncpg

from fleet.store.records import (
    BatchOutcome,
    EventFilter,
    EventQuery,
    IngestCommit,
    NewEvent,
    StoredEvent,
)

Conn = asyncpg.Connection
US_PER_DAY = 86_400_000_000
EVENT_COLUMNS = (  # the events table, in COPY order
    "cursor",
    "event_id",
    "device_id",
    "camera_id",
    "site",
    "type",
    "capture_us",
    "received_us",
    "payload",
)
SELECT_COLUMNS = ", ".join(EVENT_COLUMNS)
_new_stored = tuple.__new__  # NamedTuple construction without the generated __new__'s cost
# Serialises partition creation between replicas (CREATE TABLE IF NOT EXISTS can race).
_PARTITION_LOCK = 0x6F6B6F01


def day_of(us: int) -> int:
    """Day number since the epoch (UTC) of a microsecond time: the partition it goes in."""
    return us // US_PER_DAY


def today() -> int:
    """Today's day number (UTC)."""
    return day_of(time.time_ns() // 1000)


def partition_name(day: int) -> str:
    """`events_d<day>`: the partition of one day (day numbers sort like dates)."""
    return f"events_d{day}"


async def ensure_partition(conn: Conn, day: int) -> None:
    """Create the day's partition unless it exists (caller's transaction)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _PARTITION_LOCK)
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF events"
        f" FOR VALUES FROM ({day * US_PER_DAY}) TO ({(day + 1) * US_PER_DAY})"
    )


async def read_last_cursor(conn: Conn) -> int:
    """The last cursor ever assigned (0 for a new store); never handed out again."""
    return int(await conn.fetchval("SELECT value FROM event_counter WHERE id = 1"))


async def _new_ids(conn: Conn, ids: list[str]) -> set[str]:
    rows = await conn.fetch(
        "INSERT INTO event_ids (event_id) SELECT unnest($1::text[]) ORDER BY 1"
        " ON CONFLICT DO NOTHING RETURNING event_id",
        sorted(ids),
    )
    return {row[0] for row in rows}


async def ingest(
    conn: Conn, batches: Sequence[Sequence[NewEvent]], received_us: int
) -> IngestCommit:
    """Insert the new events of all batches; the caller wraps this in one transaction."""
    first: dict[str, None] = {}  # ids in order of first appearance
    for batch in batches:
        for e in batch:
            first.setdefault(e.event_id)
    new = await _new_ids(conn, list(first)) if first else set()
    if not new:
        last = await read_last_cursor(conn)
        return IngestCommit([BatchOutcome(0, len(b)) for b in batches], [], last)
    top = int(
        await conn.fetchval(
            "UPDATE event_counter SET value = value + $1 WHERE id = 1 RETURNING value", len(new)
        )
    )
    cursor = top - len(new)
    outcomes: list[BatchOutcome] = []
    stored: list[StoredEvent] = []
    for batch in batches:
        accepted = 0
        for e in batch:
            if e.event_id not in new:
                continue
            new.discard(e.event_id)
            cursor += 1
            accepted += 1
            stored.append(
                _new_stored(
                    StoredEvent,
                    (
                        cursor,
                        e.event_id,
                        e.device_id,
                        e.camera_id,
                        e.site,
                        e.type,
                        e.capture_us,
                        received_us,
                        e.payload,
                    ),
                )
            )
        outcomes.append(BatchOutcome(accepted=accepted, duplicates=len(batch) - accepted))
    await conn.copy_records_to_table("events", records=stored, columns=EVENT_COLUMNS)
    return IngestCommit(outcomes=outcomes, stored=stored, last_cursor=top)


def _filter_sql(flt: EventFilter, where: list[str], args: list[object]) -> None:
    for column, values in (
        ("camera_id", flt.camera_ids),
        ("site", flt.sites),
        ("type", flt.types),
        ("device_id", flt.device_ids),
    ):
        if values:
            args.append(sorted(values))
            where.append(f"{column} = ANY(${len(args)}::text[])")


async def read_events(conn: Conn, query: EventQuery) -> list[StoredEvent]:
    """Events after `query.after_cursor` matching the filter and time range, cursor order.

    Below `before_cursor` too when it is set; highest cursor first with `newest_first`.
    """
    args: list[object] = [query.after_cursor]
    where = ["cursor > $1"]
    if query.before_cursor:
        args.append(query.before_cursor)
        where.append(f"cursor < ${len(args)}")
    _filter_sql(query.filter, where, args)
    if query.start_us is not None:
        args.append(query.start_us)
        where.append(f"capture_us >= ${len(args)}")
    if query.end_us is not None:
        args.append(query.end_us)
        where.append(f"capture_us < ${len(args)}")
    args.append(query.limit)
    order = "cursor DESC" if query.newest_first else "cursor"
    sql = (
        f"SELECT {SELECT_COLUMNS} FROM events WHERE {' AND '.join(where)}"
        f" ORDER BY {order} LIMIT ${len(args)}"
    )
    return [StoredEvent._make(row) for row in await conn.fetch(sql, *args)]


async def last_event_times(conn: Conn, camera_ids: list[str]) -> dict[str, int]:
    """Latest capture time per camera (one index lookup per camera and partition)."""
    out: dict[str, int] = {}
    for camera_id in camera_ids:
        value = await conn.fetchval(
            "SELECT max(capture_us) FROM events WHERE camera_id = $1", camera_id
        )
        out[camera_id] = int(value) if value is not None else 0
    return out


async def count_events(conn: Conn) -> int:
    """How many events are stored (exact: a scan, only for status and metrics calls)."""
    return int(await conn.fetchval("SELECT count(*) FROM events"))

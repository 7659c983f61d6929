"""Event table operations on a SQLite connection (called on the store's own threads).

Deduplication happens here, by looking the batch's ids up before inserting, rather than
with INSERT OR IGNORE: the ingest path must know *which* events were new to give them
cursors, publish them and count duplicates per batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from fleet.store.records import (
    BatchOutcome,
    EventFilter,
    EventQuery,
    IngestCommit,
    NewEvent,
    StoredEvent,
)

_LOOKUP_CHUNK = 5000
_INSERT = (
    "INSERT INTO events (cursor, event_id, device_id, camera_id, site, type, capture_us,"
    " received_us, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_COLUMNS = "cursor, event_id, device_id, camera_id, site, type, capture_us, received_us, payload"


def read_last_cursor(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'last_cursor'").fetchone()
    return int(row[0]) if row else 0


def _existing_ids(conn: sqlite3.Connection, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT event_id FROM events WHERE event_id IN ({marks})", chunk)
        found.update(row[0] for row in rows)
    return found


def ingest(
    conn: sqlite3.Connection,
    batches: Sequence[Sequence[NewEvent]],
    received_us: int,
    last_cursor: int,
) -> IngestCommit:
    """Insert the new events of all batches; the caller wraps this in one transaction."""
    seen = _existing_ids(conn, [e.event_id for batch in batches for e in batch])
    outcomes: list[BatchOutcome] = []
    stored: list[StoredEvent] = []
    rows: list[tuple[object, ...]] = []
    cursor = last_cursor
    for batch in batches:
        accepted = 0
        for event in batch:
            if event.event_id in seen:
                continue
            seen.add(event.event_id)
            cursor += 1
            accepted += 1
            rows.append((
                cursor, event.event_id, event.device_id, event.camera_id, event.site,
                event.type, event.capture_us, received_us, event.payload,
            ))
            stored.append(StoredEvent(
                event_id=event.event_id, device_id=event.device_id, camera_id=event.camera_id,
                site=event.site, type=event.type, capture_us=event.capture_us,
                payload=event.payload, cursor=cursor, received_us=received_us,
            ))
        outcomes.append(BatchOutcome(accepted=accepted, duplicates=len(batch) - accepted))
    if rows:
        conn.executemany(_INSERT, rows)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'last_cursor'", (cursor,))
    return IngestCommit(outcomes=outcomes, stored=stored, last_cursor=cursor)


def _in_clause(column: str, values: frozenset[str], where: list[str], args: list[object]) -> None:
    if values:
        where.append(f"{column} IN ({','.join('?' * len(values))})")
        args.extend(sorted(values))


def _filter_sql(flt: EventFilter, where: list[str], args: list[object]) -> None:
    _in_clause("camera_id", flt.camera_ids, where, args)
    _in_clause("site", flt.sites, where, args)
    _in_clause("type", flt.types, where, args)
    _in_clause("device_id", flt.device_ids, where, args)


def read_events(conn: sqlite3.Connection, query: EventQuery) -> list[StoredEvent]:
    """Events after `query.after_cursor` matching the filter and time range, cursor order."""
    where = ["cursor > ?"]
    args: list[object] = [query.after_cursor]
    _filter_sql(query.filter, where, args)
    if query.start_us is not None:
        where.append("capture_us >= ?")
        args.append(query.start_us)
    if query.end_us is not None:
        where.append("capture_us < ?")
        args.append(query.end_us)
    args.append(query.limit)
    sql = f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY cursor LIMIT ?"
    return [
        StoredEvent(
            cursor=row[0], event_id=row[1], device_id=row[2], camera_id=row[3], site=row[4],
            type=row[5], capture_us=row[6], received_us=row[7], payload=bytes(row[8]),
        )
        for row in conn.execute(sql, args)
    ]


def last_event_times(conn: sqlite3.Connection, camera_ids: list[str]) -> dict[str, int]:
    """Latest capture time per camera (index-only lookups)."""
    out: dict[str, int] = {}
    for camera_id in camera_ids:
        row = conn.execute(
            "SELECT max(capture_us) FROM events WHERE camera_id = ?", (camera_id,)
        ).fetchone()
        out[camera_id] = int(row[0]) if row and row[0] is not None else 0
    return out


def count_events(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])

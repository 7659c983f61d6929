"""Event table operations on a SQLite connection (called on the store's own threads).

Deduplication happens here, by looking the batch's ids up before inserting, rather than
with INSERT OR IGNORE: the ingest path must know *which* events were new to give them
cursors, publish them and count duplicates per batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from itertools import chain

from fleet.store.records import (
    BatchOutcome,
    EventFilter,
    EventQuery,
    IngestCommit,
    NewEvent,
    StoredEvent,
)

_LOOKUP_CHUNK = 5000
_COLUMNS = "cursor, event_id, device_id, camera_id, site, type, capture_us, received_us, payload"
# Rows per INSERT statement. Python's sqlite3 releases and re-takes the GIL around every
# statement step; with one row per step, the writer thread queues for the GIL behind the
# event loop once per event. 100 rows per step cut that to once per hundred.
_ROWS_PER_INSERT = 100
_new_stored = tuple.__new__  # NamedTuple construction without the generated __new__'s cost


def _insert_sql(rows: int) -> str:
    group = "(" + ", ".join("?" * 9) + ")"
    return f"INSERT INTO events ({_COLUMNS}) VALUES " + ", ".join([group] * rows)


_INSERT_FULL = _insert_sql(_ROWS_PER_INSERT)


def _insert(conn: sqlite3.Connection, rows: list[StoredEvent]) -> None:
    full = len(rows) - len(rows) % _ROWS_PER_INSERT
    if full:
        conn.executemany(
            _INSERT_FULL,
            (
                list(chain.from_iterable(rows[start : start + _ROWS_PER_INSERT]))
                for start in range(0, full, _ROWS_PER_INSERT)
            ),
        )
    if full < len(rows):
        rest = rows[full:]
        conn.execute(_insert_sql(len(rest)), list(chain.from_iterable(rest)))


def read_last_cursor(conn: sqlite3.Connection) -> int:
    """The last cursor ever assigned (0 for a new store).

    Kept in `meta` rather than taken from max(cursor), so a cursor is never handed out twice.
    """
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
    cursor = last_cursor
    for batch in batches:
        accepted = 0
        for e in batch:
            if e.event_id in seen:
                continue
            seen.add(e.event_id)
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
    if stored:
        _insert(conn, stored)
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
    """Events after `query.after_cursor` matching the filter and time range, cursor order.

    Below `before_cursor` too when it is set; highest cursor first with `newest_first`.
    """
    where = ["cursor > ?"]
    args: list[object] = [query.after_cursor]
    if query.before_cursor:
        where.append("cursor < ?")
        args.append(query.before_cursor)
    _filter_sql(query.filter, where, args)
    if query.start_us is not None:
        where.append("capture_us >= ?")
        args.append(query.start_us)
    if query.end_us is not None:
        where.append("capture_us < ?")
        args.append(query.end_us)
    args.append(query.limit)
    order = "cursor DESC" if query.newest_first else "cursor"
    sql = f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
    return [StoredEvent._make(row) for row in conn.execute(sql, args)]


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
    """How many events are stored."""
    return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])

"""Deleting expired events, one bounded transaction at a time (on the writer thread).

Age counts from `received_us`, the fleet's own clock at commit, never from the box's
capture time (an untrusted box could otherwise keep its rows forever). Cursors are handed
out in commit order, so `received_us` rises with the cursor: each rule walks the events
table by primary key from where its last walk stopped (its mark in `meta`) and stops at the
first row that is still young. A pass therefore reads each row once per rule over the
store's life, needs no index beyond the primary key, and costs ingest nothing per insert.

If the wall clock steps back, a young row may sit before older ones; the walk stops there
and purges the older ones late, never anything early.
"""

from __future__ import annotations

import sqlite3

from fleet.store.records import PurgeRule, PurgeStep


def _mark(conn: sqlite3.Connection, key: str) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else 0


def purge_events(
    conn: sqlite3.Connection, rule: PurgeRule, before_us: int, limit: int
) -> PurgeStep:
    """Delete up to `limit` rows of `rule`'s types received before `before_us`.

    Reads at most `limit` rows, so one call holds the writer for a bounded time; the
    caller wraps it in one transaction and repeats until `done`.
    """
    mark = _mark(conn, rule.key)
    rows = conn.execute(
        "SELECT cursor, type, received_us FROM events WHERE cursor > ? ORDER BY cursor LIMIT ?",
        (mark, limit),
    ).fetchall()
    doomed: list[tuple[int]] = []
    done = len(rows) < limit
    for cursor, event_type, received_us in rows:
        if received_us >= before_us:
            done = True
            break
        mark = cursor
        if rule.covers(event_type):
            doomed.append((cursor,))
    conn.executemany("DELETE FROM events WHERE cursor = ?", doomed)
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (rule.key, mark),
    )
    return PurgeStep(deleted=len(doomed), done=done)


def purge_alerts(conn: sqlite3.Connection, before_us: int, limit: int) -> int:
    """Delete up to `limit` alerts raised before `before_us`, with decisions and evidence.

    Oldest first by the `alerts_raised` index; `raised_us` is the fleet's clock at matching.
    """
    doomed = [
        (row[0],)
        for row in conn.execute(
            "SELECT alert_id FROM alerts WHERE raised_us < ? ORDER BY raised_us LIMIT ?",
            (before_us, limit),
        )
    ]
    conn.executemany("DELETE FROM alert_decisions WHERE alert_id = ?", doomed)
    conn.executemany("DELETE FROM alert_evidence WHERE alert_id = ?", doomed)
    conn.executemany("DELETE FROM alerts WHERE alert_id = ?", doomed)
    return len(doomed)

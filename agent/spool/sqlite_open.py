"""Opening the spool's SQLite file: WAL, durability, exclusive ownership, integrity, schema.

Kept apart from the queue operations because everything that can be wrong with the *file*
(not a database, damaged pages, another process owns it, a newer schema) is decided here,
once, and turned into a `SpoolError` that names the file and what to do about it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agent.errors import SpoolError

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    camera_id TEXT NOT NULL,
    priority INTEGER NOT NULL,
    created REAL NOT NULL,
    size INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_priority ON events(priority, seq);
CREATE TABLE IF NOT EXISTS drops (
    camera_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    events INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (camera_id, reason)
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


def open_database(path: Path, synchronous: str) -> sqlite3.Connection:
    """A connection that owns `path` exclusively, in WAL mode, with the schema in place."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=0.5, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as err:
        raise SpoolError(f"{path}: cannot open spool: {err}") from err
    try:
        _prepare(conn, synchronous)
    except sqlite3.Error as err:
        conn.close()
        raise SpoolError(explain(path, err)) from err
    return conn


def _prepare(conn: sqlite3.Connection, synchronous: str) -> None:
    # Exclusive mode must be set before WAL so SQLite keeps the WAL index in process
    # memory (no -shm file) and holds the file lock for the connection's lifetime.
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"could not switch to WAL (got {mode})")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    # Keeps the WAL from growing without bound after a burst.
    conn.execute("PRAGMA journal_size_limit=67108864")
    check = conn.execute("PRAGMA quick_check").fetchall()
    if check != [("ok",)]:
        problems = "; ".join(str(row[0]) for row in check[:3])
        raise sqlite3.DatabaseError(f"integrity check failed: {problems}")
    conn.execute("BEGIN IMMEDIATE")  # takes (and, in exclusive mode, keeps) the lock
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise sqlite3.DatabaseError(f"unknown spool schema version {version}")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except sqlite3.Error:
        conn.execute("ROLLBACK")
        raise


def explain(path: Path, err: sqlite3.Error) -> str:
    """A SQLite error as a message naming the spool file and the remedy."""
    text = str(err)
    if "locked" in text or "busy" in text:
        return f"{path}: spool is in use by another process ({text})"
    if isinstance(err, sqlite3.ProgrammingError):
        return f"{path}: spool is closed ({text})"
    if isinstance(err, sqlite3.DatabaseError) and not isinstance(err, sqlite3.OperationalError):
        return (
            f"{path}: not a usable spool database ({text}); it was left untouched "
            "- move it aside to start an empty spool"
        )
    return f"{path}: spool error: {text}"

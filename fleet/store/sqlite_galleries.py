"""SQLite queries for re-embedding galleries: enrolment photos one at a time, templates.

Functions take a connection and run inside the caller's transaction (writes) or on a
reader connection (reads), like the other `sqlite_*` modules. Tables: sqlite_schema.py.
"""

from __future__ import annotations

import sqlite3

from fleet.errors import NotFoundError
from fleet.watchlists.records import EmbedderKey, Template


def photo_keys(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """(subject id, photo index) of every stored enrolment photo, in enrolment order."""
    rows = conn.execute("SELECT subject_id, photo_index FROM subject_photos ORDER BY rowid")
    return [(sid, int(index)) for sid, index in rows]


def photo_data(conn: sqlite3.Connection, subject_id: str, photo_index: int) -> bytes:
    """One stored photo's bytes; NotFoundError if it is gone (its subject was removed)."""
    row = conn.execute(
        "SELECT data FROM subject_photos WHERE subject_id = ? AND photo_index = ?",
        (subject_id, photo_index),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no photo {photo_index} of subject {subject_id!r}")
    return bytes(row[0])


def template_keys(conn: sqlite3.Connection, embedder: EmbedderKey) -> set[tuple[str, int]]:
    """(subject id, photo index) of every template embedder `embedder` already has."""
    rows = conn.execute(
        "SELECT subject_id, photo_index FROM templates"
        " WHERE embedder_name = ? AND embedder_version = ?",
        (embedder.name, embedder.version),
    )
    return {(sid, int(index)) for sid, index in rows}


def add_template(conn: sqlite3.Connection, t: Template) -> bool:
    """Keep one template if its subject still exists and it has none for this embedder."""
    if not conn.execute("SELECT 1 FROM subjects WHERE subject_id = ?", (t.subject_id,)).fetchone():
        return False
    cursor = conn.execute(
        "INSERT OR IGNORE INTO templates (subject_id, embedder_name, embedder_version,"
        " photo_index, dimensions, vector) VALUES (?, ?, ?, ?, ?, ?)",
        (t.subject_id, t.embedder.name, t.embedder.version, t.photo_index, t.dimensions, t.vector),
    )
    return cursor.rowcount == 1

"""SQLite queries for watchlists, subjects, templates, alerts and audit checkpoints.

Functions take a connection and run inside the caller's transaction (writes) or on a
reader connection (reads), like the other `sqlite_*` modules. Tables: sqlite_schema.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace

from fleet.errors import InvalidRequestError, NotFoundError
from fleet.store import sqlite_evidence
from fleet.watchlists.decisions import decide
from fleet.watchlists.evidence_records import request_for
from fleet.watchlists.records import (
    AlertQuery,
    AlertRecord,
    AuditQuery,
    AuditRow,
    Checkpoint,
    DecisionRecord,
    EmbedderKey,
    EnrolPhoto,
    GalleryRow,
    SubjectRecord,
    Template,
    WatchlistRecord,
)

_WATCHLIST_COLUMNS = "name, site, threshold, top_k, description, created_us, created_by"
_SUBJECT_COLUMNS = "subject_id, watchlist, name, reason, expires_us, created_us, created_by"
_ALERT_COLUMNS = (
    "alert_id, state, watchlist, subject_id, subject_name, score, face_event_id, device_id,"
    " camera_id, site, track_id, raised_us"
)


# Watchlists ---------------------------------------------------------------------------
def create_watchlist(conn: sqlite3.Connection, w: WatchlistRecord) -> None:
    """Insert a watchlist; an existing name is refused."""
    if conn.execute("SELECT 1 FROM watchlists WHERE name = ?", (w.name,)).fetchone():
        raise InvalidRequestError(f"watchlist {w.name!r} already exists")
    conn.execute(
        f"INSERT INTO watchlists ({_WATCHLIST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (w.name, w.site, w.threshold, w.top_k, w.description, w.created_us, w.created_by),
    )


def list_watchlists(conn: sqlite3.Connection) -> list[WatchlistRecord]:
    """Every watchlist by name."""
    rows = conn.execute(f"SELECT {_WATCHLIST_COLUMNS} FROM watchlists ORDER BY name")
    return [WatchlistRecord(*row) for row in rows]


def get_watchlist(conn: sqlite3.Connection, name: str) -> WatchlistRecord:
    """The watchlist called `name`, or NotFoundError."""
    row = conn.execute(
        f"SELECT {_WATCHLIST_COLUMNS} FROM watchlists WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no watchlist {name!r}")
    return WatchlistRecord(*row)


def delete_watchlist(conn: sqlite3.Connection, name: str) -> WatchlistRecord:
    """Delete a watchlist with its subjects, photos and templates; its alerts stay."""
    watchlist = get_watchlist(conn, name)
    subjects = "SELECT subject_id FROM subjects WHERE watchlist = ?"
    conn.execute(f"DELETE FROM templates WHERE subject_id IN ({subjects})", (name,))
    conn.execute(f"DELETE FROM subject_photos WHERE subject_id IN ({subjects})", (name,))
    conn.execute("DELETE FROM subjects WHERE watchlist = ?", (name,))
    conn.execute("DELETE FROM watchlists WHERE name = ?", (name,))
    return watchlist


def _photo_row(p: EnrolPhoto) -> tuple[object, ...]:
    return (
        p.subject_id,
        p.photo_index,
        p.filename,
        p.sha256,
        p.data,
        p.quality,
        p.face_width_px,
        p.sharpness,
        p.pose,
        p.detector_score,
    )


def _alert_row(a: AlertRecord) -> tuple[object, ...]:
    return (
        a.alert_id,
        a.state,
        a.watchlist,
        a.subject_id,
        a.subject_name,
        a.score,
        a.face_event_id,
        a.device_id,
        a.camera_id,
        a.site,
        a.track_id,
        a.raised_us,
    )


# Subjects -----------------------------------------------------------------------------
def add_subject(conn: sqlite3.Connection, subject: SubjectRecord) -> None:
    """Insert a subject with its photos and templates (all or nothing: one transaction)."""
    get_watchlist(conn, subject.watchlist)
    s = subject
    conn.execute(
        f"INSERT INTO subjects ({_SUBJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (s.subject_id, s.watchlist, s.name, s.reason, s.expires_us, s.created_us, s.created_by),
    )
    conn.executemany(
        "INSERT INTO subject_photos (subject_id, photo_index, filename, sha256, data, quality,"
        " face_width_px, sharpness, pose, detector_score) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [_photo_row(p) for p in s.photos],
    )
    conn.executemany(
        "INSERT INTO templates (subject_id, embedder_name, embedder_version, photo_index,"
        " dimensions, vector) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                t.subject_id,
                t.embedder.name,
                t.embedder.version,
                t.photo_index,
                t.dimensions,
                t.vector,
            )
            for t in s.templates
        ],
    )


def _templates(conn: sqlite3.Connection, subject_ids: Sequence[str]) -> dict[str, list[Template]]:
    out: dict[str, list[Template]] = {sid: [] for sid in subject_ids}
    marks = ",".join("?" * len(subject_ids))
    rows = conn.execute(
        "SELECT subject_id, embedder_name, embedder_version, photo_index, dimensions, vector"
        f" FROM templates WHERE subject_id IN ({marks}) ORDER BY subject_id, photo_index",
        tuple(subject_ids),
    )
    for sid, name, version, index, dims, vector in rows:
        out[sid].append(Template(sid, EmbedderKey(name, version), index, dims, vector))
    return out


def _photos(conn: sqlite3.Connection, subject_id: str, with_data: bool) -> list[EnrolPhoto]:
    data = "data" if with_data else "x''"
    rows = conn.execute(
        f"SELECT subject_id, photo_index, filename, sha256, {data}, quality, face_width_px,"
        " sharpness, pose, detector_score FROM subject_photos WHERE subject_id = ?"
        " ORDER BY photo_index",
        (subject_id,),
    )
    return [EnrolPhoto(*row) for row in rows]


def list_subjects(conn: sqlite3.Connection, watchlist: str) -> list[SubjectRecord]:
    """Subjects of one watchlist (or of all when empty), with template counts, no photos."""
    if watchlist:
        get_watchlist(conn, watchlist)
    where, args = ("WHERE watchlist = ?", (watchlist,)) if watchlist else ("", ())
    rows = conn.execute(
        f"SELECT {_SUBJECT_COLUMNS} FROM subjects {where} ORDER BY watchlist, name", args
    ).fetchall()
    templates = _templates(conn, [r[0] for r in rows]) if rows else {}
    return [replace(SubjectRecord(*row), templates=tuple(templates[row[0]])) for row in rows]


def get_subject(conn: sqlite3.Connection, subject_id: str) -> SubjectRecord:
    """One subject with photo metadata (no bytes) and templates, or NotFoundError."""
    row = conn.execute(
        f"SELECT {_SUBJECT_COLUMNS} FROM subjects WHERE subject_id = ?", (subject_id,)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no subject {subject_id!r}")
    photos = tuple(_photos(conn, subject_id, with_data=False))
    templates = tuple(_templates(conn, [subject_id])[subject_id])
    return replace(SubjectRecord(*row), photos=photos, templates=templates)


def remove_subject(conn: sqlite3.Connection, subject_id: str) -> SubjectRecord:
    """Delete a subject with its photos and templates; returns what was deleted."""
    subject = get_subject(conn, subject_id)
    for table in ("templates", "subject_photos", "subjects"):
        conn.execute(f"DELETE FROM {table} WHERE subject_id = ?", (subject_id,))
    return subject


def gallery_rows(conn: sqlite3.Connection) -> list[GalleryRow]:
    """Every template with its subject's name and expiry and its watchlist's settings."""
    rows = conn.execute(
        "SELECT t.subject_id, t.embedder_name, t.embedder_version, t.photo_index, t.dimensions,"
        " t.vector, s.name, s.expires_us, w.name, w.site, w.threshold, w.top_k, w.description,"
        " w.created_us, w.created_by FROM templates t JOIN subjects s USING (subject_id)"
        " JOIN watchlists w ON w.name = s.watchlist ORDER BY t.rowid"
    )
    out = []
    for sid, ename, eversion, index, dims, vector, sname, expires, *w in rows:
        template = Template(sid, EmbedderKey(ename, eversion), index, dims, vector)
        out.append(GalleryRow(template, WatchlistRecord(*w), sname, expires))
    return out


# Alerts -------------------------------------------------------------------------------
def add_alert(conn: sqlite3.Connection, alert: AlertRecord) -> bool:
    """Insert a new alert and its pending evidence request; False if the track alerted it.

    One transaction, so no alert is ever without its request; nothing is written on False.
    """
    a = alert
    cursor = conn.execute(
        f"INSERT OR IGNORE INTO alerts ({_ALERT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        _alert_row(a),
    )
    if cursor.rowcount != 1:
        return False
    sqlite_evidence.add_requests(conn, [request_for(a)])
    return True


def _decisions(conn: sqlite3.Connection, alert_id: str) -> tuple[DecisionRecord, ...]:
    rows = conn.execute(
        "SELECT kind, actor, actor_token_id, note, at_us FROM alert_decisions"
        " WHERE alert_id = ? ORDER BY at_us, rowid",
        (alert_id,),
    )
    return tuple(DecisionRecord(*row) for row in rows)


def get_alert(conn: sqlite3.Connection, alert_id: str) -> AlertRecord:
    """One alert with its decisions, or NotFoundError."""
    row = conn.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE alert_id = ?", (alert_id,)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no alert {alert_id!r}")
    return replace(AlertRecord(*row), decisions=_decisions(conn, alert_id))


def list_alerts(conn: sqlite3.Connection, query: AlertQuery) -> list[AlertRecord]:
    """Alerts newest first, narrowed by state and watchlist."""
    clauses: list[str] = []
    args: list[object] = []
    if query.state:
        clauses.append("state = ?")
        args.append(query.state)
    if query.watchlist:
        clauses.append("watchlist = ?")
        args.append(query.watchlist)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts {where} ORDER BY raised_us DESC, rowid DESC LIMIT ?",
        (*args, query.limit),
    ).fetchall()
    return [replace(AlertRecord(*row), decisions=_decisions(conn, row[0])) for row in rows]


def decide_alert(conn: sqlite3.Connection, alert_id: str, decision: DecisionRecord) -> AlertRecord:
    """Apply one operator's decision (rules in `fleet.watchlists.decisions`) atomically."""
    updated = decide(get_alert(conn, alert_id), decision)
    d = decision
    conn.execute(
        "INSERT INTO alert_decisions (alert_id, actor_token_id, actor, kind, note, at_us)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (alert_id, d.actor_token_id, d.actor, d.kind, d.note, d.at_us),
    )
    conn.execute("UPDATE alerts SET state = ? WHERE alert_id = ?", (updated.state, alert_id))
    return updated


# Audit --------------------------------------------------------------------------------
def list_audit(conn: sqlite3.Connection, query: AuditQuery) -> list[AuditRow]:
    """Audit rows after `after_seq` in chain order, filtered by time, actor, action."""
    clauses: list[str] = ["seq > ?"]
    args: list[object] = [query.after_seq]
    if query.since_us:
        clauses.append("at_us >= ?")
        args.append(query.since_us)
    if query.actor:
        clauses.append("actor = ?")
        args.append(query.actor)
    if query.action.endswith("."):
        clauses.append("substr(action, 1, ?) = ?")
        args += [len(query.action), query.action]
    elif query.action:
        clauses.append("action = ?")
        args.append(query.action)
    rows = conn.execute(
        "SELECT seq, at_us, actor, action, target, detail, prev_hash, hash FROM audit"
        f" WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT ?",
        (*args, query.limit),
    )
    return [AuditRow(*row) for row in rows]


def audit_head(conn: sqlite3.Connection) -> tuple[int, str]:
    """(seq, hash) of the newest audit entry; (0, '') for an empty log."""
    row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, "")


def add_checkpoint(conn: sqlite3.Connection, cp: Checkpoint) -> None:
    """Keep a signed checkpoint (one per seq; re-signing a seq replaces it)."""
    conn.execute(
        "INSERT OR REPLACE INTO audit_checkpoints (seq, head_hash, at_us, signature, public_key)"
        " VALUES (?, ?, ?, ?, ?)",
        (cp.seq, cp.head_hash, cp.at_us, cp.signature, cp.public_key),
    )


def latest_checkpoint(conn: sqlite3.Connection) -> Checkpoint | None:
    """The checkpoint of the highest seq, or None."""
    row = conn.execute(
        "SELECT seq, head_hash, at_us, signature, public_key FROM audit_checkpoints"
        " ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    return Checkpoint(*row) if row else None

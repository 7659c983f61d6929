"""Watchlists, subjects, templates, alerts and audit checkpoints on PostgreSQL, and their mixin.

Queries mirror `sqlite_watchlists`; where SQLite ordered by rowid, these tables have a
bigserial `id` (insertion order). An alert decision locks its alert row, so two operators
deciding on two replicas at once take turns and the second sees the first's decision.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import asyncpg
from typing_extensions import override

from fleet.errors import InvalidRequestError, NotFoundError
from fleet.store import pg_evidence
from fleet.store.base import Store
from fleet.store.sqlite_watchlists import (
    _ALERT_COLUMNS,
    _SUBJECT_COLUMNS,
    _WATCHLIST_COLUMNS,
    _alert_row,
    _photo_row,
)
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

Conn = asyncpg.Connection
T = TypeVar("T")


def _marks(n: int, start: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(start, start + n))


async def create_watchlist(conn: Conn, w: WatchlistRecord) -> None:
    """Insert a watchlist; an existing name is refused."""
    status = await conn.execute(
        f"INSERT INTO watchlists ({_WATCHLIST_COLUMNS}) VALUES ({_marks(7)})"
        " ON CONFLICT (name) DO NOTHING",
        w.name,
        w.site,
        w.threshold,
        w.top_k,
        w.description,
        w.created_us,
        w.created_by,
    )
    if status == "INSERT 0 0":
        raise InvalidRequestError(f"watchlist {w.name!r} already exists")


async def list_watchlists(conn: Conn) -> list[WatchlistRecord]:
    """Every watchlist by name."""
    rows = await conn.fetch(f"SELECT {_WATCHLIST_COLUMNS} FROM watchlists ORDER BY name")
    return [WatchlistRecord(*row) for row in rows]


async def get_watchlist(conn: Conn, name: str) -> WatchlistRecord:
    """The watchlist called `name`, or NotFoundError."""
    row = await conn.fetchrow(f"SELECT {_WATCHLIST_COLUMNS} FROM watchlists WHERE name = $1", name)
    if row is None:
        raise NotFoundError(f"no watchlist {name!r}")
    return WatchlistRecord(*row)


async def delete_watchlist(conn: Conn, name: str) -> WatchlistRecord:
    """Delete a watchlist with its subjects, photos and templates; its alerts stay."""
    watchlist = await get_watchlist(conn, name)
    subjects = "SELECT subject_id FROM subjects WHERE watchlist = $1"
    await conn.execute(f"DELETE FROM templates WHERE subject_id IN ({subjects})", name)
    await conn.execute(f"DELETE FROM subject_photos WHERE subject_id IN ({subjects})", name)
    await conn.execute("DELETE FROM subjects WHERE watchlist = $1", name)
    await conn.execute("DELETE FROM watchlists WHERE name = $1", name)
    return watchlist


async def add_subject(conn: Conn, s: SubjectRecord) -> None:
    """Insert a subject with its photos and templates (one transaction)."""
    await get_watchlist(conn, s.watchlist)
    await conn.execute(
        f"INSERT INTO subjects ({_SUBJECT_COLUMNS}) VALUES ({_marks(7)})",
        s.subject_id,
        s.watchlist,
        s.name,
        s.reason,
        s.expires_us,
        s.created_us,
        s.created_by,
    )
    await conn.executemany(
        "INSERT INTO subject_photos (subject_id, photo_index, filename, sha256, data, quality,"
        f" face_width_px, sharpness, pose, detector_score) VALUES ({_marks(10)})",
        [_photo_row(p) for p in s.photos],
    )
    await conn.executemany(
        "INSERT INTO templates (subject_id, embedder_name, embedder_version, photo_index,"
        f" dimensions, vector) VALUES ({_marks(6)})",
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


async def _templates(conn: Conn, subject_ids: Sequence[str]) -> dict[str, list[Template]]:
    out: dict[str, list[Template]] = {sid: [] for sid in subject_ids}
    rows = await conn.fetch(
        "SELECT subject_id, embedder_name, embedder_version, photo_index, dimensions, vector"
        " FROM templates WHERE subject_id = ANY($1::text[]) ORDER BY subject_id, photo_index",
        list(subject_ids),
    )
    for sid, name, version, index, dims, vector in rows:
        out[sid].append(Template(sid, EmbedderKey(name, version), index, dims, vector))
    return out


async def _photos(conn: Conn, subject_id: str) -> list[EnrolPhoto]:
    rows = await conn.fetch(
        "SELECT subject_id, photo_index, filename, sha256, ''::bytea, quality, face_width_px,"
        " sharpness, pose, detector_score FROM subject_photos WHERE subject_id = $1"
        " ORDER BY photo_index",
        subject_id,
    )
    return [EnrolPhoto(*row) for row in rows]


async def list_subjects(conn: Conn, watchlist: str) -> list[SubjectRecord]:
    """Subjects of one watchlist (or of all when empty), with templates, no photos."""
    if watchlist:
        await get_watchlist(conn, watchlist)
        rows = await conn.fetch(
            f"SELECT {_SUBJECT_COLUMNS} FROM subjects WHERE watchlist = $1"
            " ORDER BY watchlist, name, subject_id",
            watchlist,
        )
    else:
        rows = await conn.fetch(
            f"SELECT {_SUBJECT_COLUMNS} FROM subjects ORDER BY watchlist, name, subject_id"
        )
    templates = await _templates(conn, [r[0] for r in rows]) if rows else {}
    return [replace(SubjectRecord(*row), templates=tuple(templates[row[0]])) for row in rows]


async def get_subject(conn: Conn, subject_id: str) -> SubjectRecord:
    """One subject with photo metadata (no bytes) and templates, or NotFoundError."""
    row = await conn.fetchrow(
        f"SELECT {_SUBJECT_COLUMNS} FROM subjects WHERE subject_id = $1", subject_id
    )
    if row is None:
        raise NotFoundError(f"no subject {subject_id!r}")
    photos = tuple(await _photos(conn, subject_id))
    templates = tuple((await _templates(conn, [subject_id]))[subject_id])
    return replace(SubjectRecord(*row), photos=photos, templates=templates)


async def remove_subject(conn: Conn, subject_id: str) -> SubjectRecord:
    """Delete a subject with its photos and templates; returns what was deleted."""
    subject = await get_subject(conn, subject_id)
    for table in ("templates", "subject_photos", "subjects"):
        await conn.execute(f"DELETE FROM {table} WHERE subject_id = $1", subject_id)
    return subject


async def gallery_rows(conn: Conn) -> list[GalleryRow]:
    """Every template with its subject's name and expiry and its watchlist's settings."""
    rows = await conn.fetch(
        "SELECT t.subject_id, t.embedder_name, t.embedder_version, t.photo_index, t.dimensions,"
        " t.vector, s.name, s.expires_us, w.name, w.site, w.threshold, w.top_k, w.description,"
        " w.created_us, w.created_by FROM templates t JOIN subjects s USING (subject_id)"
        " JOIN watchlists w ON w.name = s.watchlist ORDER BY t.id"
    )
    out = []
    for sid, ename, eversion, index, dims, vector, sname, expires, *w in rows:
        template = Template(sid, EmbedderKey(ename, eversion), index, dims, vector)
        out.append(GalleryRow(template, WatchlistRecord(*w), sname, expires))
    return out


async def add_alert(conn: Conn, alert: AlertRecord) -> bool:
    """Insert a new alert and its pending evidence request; False if the track alerted it."""
    status = await conn.execute(
        f"INSERT INTO alerts ({_ALERT_COLUMNS}) VALUES ({_marks(12)}) ON CONFLICT DO NOTHING",
        *_alert_row(alert),
    )
    if status != "INSERT 0 1":
        return False
    await pg_evidence.add_requests(conn, [request_for(alert)])
    return True


async def _decisions(conn: Conn, alert_id: str) -> tuple[DecisionRecord, ...]:
    rows = await conn.fetch(
        "SELECT kind, actor, actor_token_id, note, at_us FROM alert_decisions"
        " WHERE alert_id = $1 ORDER BY at_us, id",
        alert_id,
    )
    return tuple(DecisionRecord(*row) for row in rows)


async def get_alert(conn: Conn, alert_id: str, lock: bool = False) -> AlertRecord:
    """One alert with its decisions, or NotFoundError; `lock` holds its row to commit."""
    row = await conn.fetchrow(
        f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE alert_id = $1"
        + (" FOR UPDATE" if lock else ""),
        alert_id,
    )
    if row is None:
        raise NotFoundError(f"no alert {alert_id!r}")
    return replace(AlertRecord(*row), decisions=await _decisions(conn, alert_id))


async def list_alerts(conn: Conn, query: AlertQuery) -> list[AlertRecord]:
    """Alerts newest first, narrowed by state and watchlist."""
    clauses: list[str] = []
    args: list[object] = []
    for column, value in (("state", query.state), ("watchlist", query.watchlist)):
        if value:
            args.append(value)
            clauses.append(f"{column} = ${len(args)}")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    args.append(query.limit)
    rows = await conn.fetch(
        f"SELECT {_ALERT_COLUMNS} FROM alerts {where} ORDER BY raised_us DESC, id DESC"
        f" LIMIT ${len(args)}",
        *args,
    )
    return [replace(AlertRecord(*row), decisions=await _decisions(conn, row[0])) for row in rows]


async def decide_alert(conn: Conn, alert_id: str, d: DecisionRecord) -> AlertRecord:
    """Apply one operator's decision (rules in `fleet.watchlists.decisions`) atomically."""
    updated = decide(await get_alert(conn, alert_id, lock=True), d)
    await conn.execute(
        "INSERT INTO alert_decisions (alert_id, actor_token_id, actor, kind, note, at_us)"
        f" VALUES ({_marks(6)})",
        alert_id,
        d.actor_token_id,
        d.actor,
        d.kind,
        d.note,
        d.at_us,
    )
    await conn.execute("UPDATE alerts SET state = $1 WHERE alert_id = $2", updated.state, alert_id)
    return updated


async def list_audit(conn: Conn, query: AuditQuery) -> list[AuditRow]:
    """Audit rows after `after_seq` in chain order, filtered by time, actor, action."""
    args: list[object] = [query.after_seq]
    clauses = ["seq > $1"]
    if query.since_us:
        args.append(query.since_us)
        clauses.append(f"at_us >= ${len(args)}")
    if query.actor:
        args.append(query.actor)
        clauses.append(f"actor = ${len(args)}")
    if query.action.endswith("."):
        args += [len(query.action), query.action]
        clauses.append(f"left(action, ${len(args) - 1}) = ${len(args)}")
    elif query.action:
        args.append(query.action)
        clauses.append(f"action = ${len(args)}")
    args.append(query.limit)
    rows = await conn.fetch(
        "SELECT seq, at_us, actor, action, target, detail, prev_hash, hash FROM audit"
        f" WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT ${len(args)}",
        *args,
    )
    return [AuditRow(*row) for row in rows]


async def audit_head(conn: Conn) -> tuple[int, str]:
    """(seq, hash) of the newest audit entry; (0, '') for an empty log."""
    row = await conn.fetchrow("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
    return (int(row[0]), str(row[1])) if row else (0, "")


async def add_checkpoint(conn: Conn, cp: Checkpoint) -> None:
    """Keep a signed checkpoint (one per seq; re-signing a seq replaces it)."""
    await conn.execute(
        "INSERT INTO audit_checkpoints (seq, head_hash, at_us, signature, public_key)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO UPDATE SET"
        " head_hash = excluded.head_hash, at_us = excluded.at_us,"
        " signature = excluded.signature, public_key = excluded.public_key",
        cp.seq,
        cp.head_hash,
        cp.at_us,
        cp.signature,
        cp.public_key,
    )


async def latest_checkpoint(conn: Conn) -> Checkpoint | None:
    """The checkpoint of the highest seq, or None."""
    row = await conn.fetchrow(
        "SELECT seq, head_hash, at_us, signature, public_key FROM audit_checkpoints"
        " ORDER BY seq DESC LIMIT 1"
    )
    return Checkpoint(*row) if row else None


class WatchlistMixin(Store):
    """The watchlist half of `PostgresStore`; needs the host's `_tx` and `_read`."""

    async def _tx(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    async def _read(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    @override
    async def create_watchlist(self, watchlist: WatchlistRecord) -> None:
        await self._tx(create_watchlist, watchlist)

    @override
    async def list_watchlists(self) -> list[WatchlistRecord]:
        return await self._read(list_watchlists)

    @override
    async def get_watchlist(self, name: str) -> WatchlistRecord:
        return await self._read(get_watchlist, name)

    @override
    async def delete_watchlist(self, name: str) -> WatchlistRecord:
        return await self._tx(delete_watchlist, name)

    @override
    async def add_subject(self, subject: SubjectRecord) -> None:
        await self._tx(add_subject, subject)

    @override
    async def list_subjects(self, watchlist: str = "") -> list[SubjectRecord]:
        return await self._read(list_subjects, watchlist)

    @override
    async def get_subject(self, subject_id: str) -> SubjectRecord:
        return await self._read(get_subject, subject_id)

    @override
    async def remove_subject(self, subject_id: str) -> SubjectRecord:
        return await self._tx(remove_subject, subject_id)

    @override
    async def gallery_rows(self) -> list[GalleryRow]:
        return await self._read(gallery_rows)

    @override
    async def add_alert(self, alert: AlertRecord) -> bool:
        return await self._tx(add_alert, alert)

    @override
    async def get_alert(self, alert_id: str) -> AlertRecord:
        return await self._read(get_alert, alert_id)

    @override
    async def list_alerts(self, query: AlertQuery) -> list[AlertRecord]:
        return await self._read(list_alerts, query)

    @override
    async def decide_alert(self, alert_id: str, decision: DecisionRecord) -> AlertRecord:
        return await self._tx(decide_alert, alert_id, decision)

    @override
    async def list_audit(self, query: AuditQuery) -> list[AuditRow]:
        return await self._read(list_audit, query)

    @override
    async def audit_head(self) -> tuple[int, str]:
        return await self._read(audit_head)

    @override
    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        await self._tx(add_checkpoint, checkpoint)

    @override
    async def latest_checkpoint(self) -> Checkpoint | None:
        return await self._read(latest_checkpoint)

"""SQLite queries and the `SqliteStore` mixin for alert evidence (table `alert_evidence`).

One row per alert: created pending with the alert (`add_alert` calls `add_requests` in its
transaction), answered once by the box
(PRESENT with the JPEG, or UNAVAILABLE with the reason), deleted with its alert by
retention. Functions take a connection and run inside the caller's transaction (writes)
or on a reader connection (reads), like the other `sqlite_*` modules.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from typing_extensions import override

from fleet.store.base import Store
from fleet.watchlists.evidence_records import (
    PENDING,
    PRESENT,
    EvidenceAnswer,
    EvidenceMeta,
    EvidenceRequestRecord,
)

T = TypeVar("T")
_REQUEST = "request_id, alert_id, device_id, camera_id, track_id, face_event_id, requested_us"
_META = f"{_REQUEST}, state, reason, received_us, captured_us, width, height, sha256, size_bytes"


def _meta(row: Sequence[Any]) -> EvidenceMeta:
    return EvidenceMeta(EvidenceRequestRecord(*row[:7]), *row[7:])


def add_requests(conn: sqlite3.Connection, requests: Sequence[EvidenceRequestRecord]) -> int:
    """Insert pending requests; an alert that already has one keeps it. How many are new."""
    before = conn.total_changes
    conn.executemany(
        f"INSERT OR IGNORE INTO alert_evidence ({_REQUEST}, state, reason, received_us,"
        " captured_us, width, height, sha256, size_bytes, jpeg)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', 0, 0, 0, 0, '', 0, x'')",
        [
            (
                r.request_id,
                r.alert_id,
                r.device_id,
                r.camera_id,
                r.track_id,
                r.face_event_id,
                r.requested_us,
                PENDING,
            )
            for r in requests
        ],
    )
    return conn.total_changes - before


def request_missing(conn: sqlite3.Connection, now_us: int) -> int:
    """A pending request for every alert that has none; how many were added.

    For alerts stored before the fleet asked for evidence at all (new alerts get theirs
    in `add_alert`'s transaction).
    """
    cursor = conn.execute(
        f"INSERT INTO alert_evidence ({_REQUEST}, state, reason, received_us, captured_us,"
        " width, height, sha256, size_bytes, jpeg)"
        " SELECT lower(hex(randomblob(16))), a.alert_id, a.device_id, a.camera_id, a.track_id,"
        " a.face_event_id, ?, ?, '', 0, 0, 0, 0, '', 0, x''"
        " FROM alerts a LEFT JOIN alert_evidence e ON e.alert_id = a.alert_id"
        " WHERE e.alert_id IS NULL",
        (now_us, PENDING),
    )
    return cursor.rowcount


def pending(conn: sqlite3.Connection, device_id: str, limit: int) -> list[EvidenceRequestRecord]:
    """The device's unanswered requests, oldest first."""
    rows = conn.execute(
        f"SELECT {_REQUEST} FROM alert_evidence WHERE device_id = ? AND state = ?"
        " ORDER BY requested_us, request_id LIMIT ?",
        (device_id, PENDING, limit),
    )
    return [EvidenceRequestRecord(*row) for row in rows]


def get_request(conn: sqlite3.Connection, request_id: str) -> EvidenceMeta | None:
    """The request with this id and its state, or None."""
    row = conn.execute(
        f"SELECT {_META} FROM alert_evidence WHERE request_id = ?", (request_id,)
    ).fetchone()
    return None if row is None else _meta(row)


def record_answer(conn: sqlite3.Connection, request_id: str, a: EvidenceAnswer) -> bool:
    """Record the box's answer if the request is still pending; False if it was not."""
    cursor = conn.execute(
        "UPDATE alert_evidence SET state = ?, reason = ?, received_us = ?, captured_us = ?,"
        " width = ?, height = ?, sha256 = ?, size_bytes = ?, jpeg = ?"
        " WHERE request_id = ? AND state = ?",
        (
            a.state,
            a.reason,
            a.received_us,
            a.captured_us,
            a.width,
            a.height,
            a.sha256,
            len(a.jpeg),
            a.jpeg,
            request_id,
            PENDING,
        ),
    )
    return cursor.rowcount == 1


def metas(conn: sqlite3.Connection, alert_ids: Sequence[str]) -> dict[str, EvidenceMeta]:
    """Evidence state (never the bytes) of each of `alert_ids` that has a row."""
    out: dict[str, EvidenceMeta] = {}
    for start in range(0, len(alert_ids), 500):  # SQLite's bound-parameter limit
        chunk = tuple(alert_ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            f"SELECT {_META} FROM alert_evidence WHERE alert_id IN ({marks})", chunk
        ):
            meta = _meta(row)
            out[meta.alert_id] = meta
    return out


def image(conn: sqlite3.Connection, alert_id: str) -> tuple[bytes, EvidenceMeta] | None:
    """The alert's JPEG with its metadata, or None when there is no image (yet)."""
    row = conn.execute(
        f"SELECT {_META}, jpeg FROM alert_evidence WHERE alert_id = ? AND state = ?",
        (alert_id, PRESENT),
    ).fetchone()
    return None if row is None else (bytes(row[-1]), _meta(row[:-1]))


class EvidenceStoreMixin(Store):
    """Needs the host class's `_write` (writer thread, one transaction) and `_read`."""

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` in one write transaction (the host class's)."""
        raise NotImplementedError

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` on a reader connection (the host class's)."""
        raise NotImplementedError

    @override
    async def request_missing_evidence(self, now_us: int) -> int:
        return await self._write(request_missing, now_us)

    @override
    async def pending_evidence(self, device_id: str, limit: int) -> list[EvidenceRequestRecord]:
        return await self._read(pending, device_id, limit)

    @override
    async def get_evidence_request(self, request_id: str) -> EvidenceMeta | None:
        return await self._read(get_request, request_id)

    @override
    async def answer_evidence(self, request_id: str, answer: EvidenceAnswer) -> bool:
        return await self._write(record_answer, request_id, answer)

    @override
    async def evidence_meta(self, alert_ids: Sequence[str]) -> dict[str, EvidenceMeta]:
        return await self._read(metas, alert_ids)

    @override
    async def get_alert_evidence(self, alert_id: str) -> tuple[bytes, EvidenceMeta] | None:
        return await self._read(image, alert_id)

"""Alert evidence on PostgreSQL (table `alert_evidence`, revision 0003), and its mixin.

Same rules as `sqlite_evidence`: one row per alert, created pending in `add_alert`'s
transaction, answered once by the box (`state = pending` in the UPDATE's WHERE makes the
first answer win across replicas), deleted with its alert by retention.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from typing_extensions import override

from fleet.store.base import Store
from fleet.watchlists.evidence_records import (
    PENDING,
    PRESENT,
    EvidenceAnswer,
    EvidenceMeta,
    EvidenceRequestRecord,
)

Conn = asyncpg.Connection
T = TypeVar("T")
_REQUEST = "request_id, alert_id, device_id, camera_id, track_id, face_event_id, requested_us"
_META = f"{_REQUEST}, state, reason, received_us, captured_us, width, height, sha256, size_bytes"


def _meta(row: Sequence[Any]) -> EvidenceMeta:
    return EvidenceMeta(EvidenceRequestRecord(*row[:7]), *row[7:])


async def add_requests(conn: Conn, requests: Sequence[EvidenceRequestRecord]) -> None:
    """Insert pending requests; an alert that already has one keeps it."""
    await conn.executemany(
        f"INSERT INTO alert_evidence ({_REQUEST}, state, reason, received_us, captured_us,"
        " width, height, sha256, size_bytes, jpeg)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '', 0, 0, 0, 0, '', 0, ''::bytea)"
        " ON CONFLICT DO NOTHING",
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


async def request_missing(conn: Conn, now_us: int) -> int:
    """A pending request for every alert that has none; how many were added."""
    rows = await conn.fetch(
        "SELECT a.alert_id, a.device_id, a.camera_id, a.track_id, a.face_event_id FROM alerts a"
        " LEFT JOIN alert_evidence e ON e.alert_id = a.alert_id WHERE e.alert_id IS NULL"
    )
    await add_requests(
        conn,
        [
            EvidenceRequestRecord(
                request_id=secrets.token_hex(16),
                alert_id=row[0],
                device_id=row[1],
                camera_id=row[2],
                track_id=row[3],
                face_event_id=row[4],
                requested_us=now_us,
            )
            for row in rows
        ],
    )
    return len(rows)


async def pending(conn: Conn, device_id: str, limit: int) -> list[EvidenceRequestRecord]:
    """The device's unanswered requests, oldest first."""
    rows = await conn.fetch(
        f"SELECT {_REQUEST} FROM alert_evidence WHERE device_id = $1 AND state = $2"
        " ORDER BY requested_us, request_id LIMIT $3",
        device_id,
        PENDING,
        limit,
    )
    return [EvidenceRequestRecord(*row) for row in rows]


async def get_request(conn: Conn, request_id: str) -> EvidenceMeta | None:
    """The request with this id and its state, or None."""
    row = await conn.fetchrow(
        f"SELECT {_META} FROM alert_evidence WHERE request_id = $1", request_id
    )
    return None if row is None else _meta(tuple(row))


async def record_answer(conn: Conn, request_id: str, a: EvidenceAnswer) -> bool:
    """Record the box's answer if the request is still pending; False if it was not."""
    status = await conn.execute(
        "UPDATE alert_evidence SET state = $1, reason = $2, received_us = $3, captured_us = $4,"
        " width = $5, height = $6, sha256 = $7, size_bytes = $8, jpeg = $9"
        " WHERE request_id = $10 AND state = $11",
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
    )
    return bool(status == "UPDATE 1")


async def metas(conn: Conn, alert_ids: Sequence[str]) -> dict[str, EvidenceMeta]:
    """Evidence state (never the bytes) of each of `alert_ids` that has a row."""
    rows = await conn.fetch(
        f"SELECT {_META} FROM alert_evidence WHERE alert_id = ANY($1::text[])", list(alert_ids)
    )
    out: dict[str, EvidenceMeta] = {}
    for row in rows:
        meta = _meta(tuple(row))
        out[meta.alert_id] = meta
    return out


async def image(conn: Conn, alert_id: str) -> tuple[bytes, EvidenceMeta] | None:
    """The alert's JPEG with its metadata, or None when there is no image (yet)."""
    row = await conn.fetchrow(
        f"SELECT {_META}, jpeg FROM alert_evidence WHERE alert_id = $1 AND state = $2",
        alert_id,
        PRESENT,
    )
    return None if row is None else (bytes(row[-1]), _meta(tuple(row)[:-1]))


class EvidenceMixin(Store):
    """The evidence part of `PostgresStore`; needs the host's `_tx` and `_read`."""

    async def _tx(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    async def _read(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    @override
    async def request_missing_evidence(self, now_us: int) -> int:
        return await self._tx(request_missing, now_us)

    @override
    async def pending_evidence(self, device_id: str, limit: int) -> list[EvidenceRequestRecord]:
        return await self._read(pending, device_id, limit)

    @override
    async def get_evidence_request(self, request_id: str) -> EvidenceMeta | None:
        return await self._read(get_request, request_id)

    @override
    async def answer_evidence(self, request_id: str, answer: EvidenceAnswer) -> bool:
        return await self._tx(record_answer, request_id, answer)

    @override
    async def evidence_meta(self, alert_ids: Sequence[str]) -> dict[str, EvidenceMeta]:
        return await self._read(metas, alert_ids)

    @override
    async def get_alert_evidence(self, alert_id: str) -> tuple[bytes, EvidenceMeta] | None:
        return await self._read(image, alert_id)

"""Model registry tables on PostgreSQL (signing keys, versions, assignments, reports).

Same records and JSON encodings as `sqlite_models` (rows are decoded by its functions).
Assignment ids are numbered by the upsert itself (`ON CONFLICT ... assignment_id + 1`), so
two replicas assigning to one device at once still give it increasing ids.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from typing_extensions import override

from fleet.errors import AlreadyExistsError
from fleet.models.records import Assignment, ModelReportRecord, ModelVersion, SigningKeyRecord
from fleet.store import sqlite_models as smd
from fleet.store.base import Store

Conn = asyncpg.Connection
T = TypeVar("T")


def _marks(n: int) -> str:
    return ", ".join(f"${i}" for i in range(1, n + 1))


async def add_signing_key(conn: Conn, key: SigningKeyRecord) -> None:
    """Insert a trusted key; a known key id is an AlreadyExistsError."""
    status = await conn.execute(
        f"INSERT INTO model_signing_keys ({smd._KEY_COLUMNS}) VALUES ({_marks(7)})"
        " ON CONFLICT DO NOTHING",
        *dataclasses.astuple(key),
    )
    if status == "INSERT 0 0":
        raise AlreadyExistsError(f"signing key {key.key_id} is already trusted")


async def list_signing_keys(conn: Conn) -> list[SigningKeyRecord]:
    """Every trusted key, oldest first (endorsers before the keys they endorsed)."""
    rows = await conn.fetch(
        f"SELECT {smd._KEY_COLUMNS} FROM model_signing_keys ORDER BY added_us, key_id"
    )
    return [SigningKeyRecord(r[0], bytes(r[1]), r[2], r[3], r[4], r[5], bytes(r[6])) for r in rows]


async def add_model_version(conn: Conn, version: ModelVersion) -> None:
    """Insert a version; name@version stored before is an AlreadyExistsError (immutable)."""
    status = await conn.execute(
        f"INSERT INTO model_versions ({smd._VERSION_COLUMNS}) VALUES ({_marks(10)})"
        " ON CONFLICT DO NOTHING",
        *dataclasses.astuple(version)[:-1],
        json.dumps(list(version.frames)),
    )
    if status == "INSERT 0 0":
        raise AlreadyExistsError(
            f"model {version.name}@{version.version} exists; versions are immutable, "
            "push a new version"
        )


async def get_model_version(conn: Conn, name: str, version: str) -> ModelVersion | None:
    """One stored version, or None."""
    row = await conn.fetchrow(
        f"SELECT {smd._VERSION_COLUMNS} FROM model_versions WHERE name = $1 AND version = $2",
        name,
        version,
    )
    return smd._version(tuple(row)) if row else None


async def list_model_versions(conn: Conn, name: str) -> list[ModelVersion]:
    """Versions of `name` (all models when empty), by name then push time."""
    sql = f"SELECT {smd._VERSION_COLUMNS} FROM model_versions"
    rows = (
        await conn.fetch(sql + " WHERE name = $1 ORDER BY name, pushed_us", name)
        if name
        else await conn.fetch(sql + " ORDER BY name, pushed_us")
    )
    return [smd._version(tuple(r)) for r in rows]


async def put_assignments(conn: Conn, wanted: Sequence[Assignment]) -> list[Assignment]:
    """Replace each (device, slot)'s assignment; ids continue from the stored one + 1."""
    out = []
    for item in wanted:
        values = dataclasses.astuple(dataclasses.replace(item, assignment_id=1))
        number = await conn.fetchval(
            f"INSERT INTO model_assignments ({smd._ASSIGNMENT_COLUMNS}) VALUES ({_marks(9)})"
            " ON CONFLICT (device_id, slot) DO UPDATE SET name = excluded.name,"
            " version = excluded.version, assignment_id = model_assignments.assignment_id + 1,"
            " assigned_us = excluded.assigned_us, assigned_by = excluded.assigned_by,"
            " sha256 = excluded.sha256, rollback = excluded.rollback RETURNING assignment_id",
            *values[:-1],
            int(item.rollback),
        )
        out.append(dataclasses.replace(item, assignment_id=int(number)))
    return out


async def get_assignments(conn: Conn, device_id: str) -> list[Assignment]:
    """Assignments of one device (every device when empty), by device then slot."""
    sql = f"SELECT {smd._ASSIGNMENT_COLUMNS} FROM model_assignments"
    rows = (
        await conn.fetch(sql + " WHERE device_id = $1 ORDER BY device_id, slot", device_id)
        if device_id
        else await conn.fetch(sql + " ORDER BY device_id, slot")
    )
    return [smd._assignment(tuple(r)) for r in rows]


async def count_assigned(conn: Conn, name: str, version: str) -> int:
    """How many devices are assigned name@version now (any slot)."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM model_assignments WHERE name = $1 AND version = $2",
            name,
            version,
        )
    )


async def record_model_report(conn: Conn, device_id: str, report: ModelReportRecord) -> None:
    """Replace the device's last report for the report's slot."""
    await conn.execute(
        "INSERT INTO model_reports (device_id, slot, report) VALUES ($1, $2, $3)"
        " ON CONFLICT (device_id, slot) DO UPDATE SET report = excluded.report",
        device_id,
        report.slot,
        json.dumps(dataclasses.asdict(report)),
    )


async def get_model_reports(conn: Conn, device_id: str) -> list[tuple[str, ModelReportRecord]]:
    """(device_id, report) of one device (every device when empty), by device then slot."""
    sql = "SELECT device_id, report FROM model_reports"
    rows = (
        await conn.fetch(sql + " WHERE device_id = $1 ORDER BY device_id, slot", device_id)
        if device_id
        else await conn.fetch(sql + " ORDER BY device_id, slot")
    )
    return [(r[0], smd._report(r[1])) for r in rows]


class ModelMixin(Store):
    """The model-registry part of `PostgresStore`; needs the host's `_tx` and `_read`."""

    async def _tx(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    async def _read(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    @override
    async def add_signing_key(self, key: SigningKeyRecord) -> None:
        await self._tx(add_signing_key, key)

    @override
    async def list_signing_keys(self) -> list[SigningKeyRecord]:
        return await self._read(list_signing_keys)

    @override
    async def add_model_version(self, version: ModelVersion) -> None:
        await self._tx(add_model_version, version)

    @override
    async def get_model_version(self, name: str, version: str) -> ModelVersion | None:
        return await self._read(get_model_version, name, version)

    @override
    async def list_model_versions(self, name: str = "") -> list[ModelVersion]:
        return await self._read(list_model_versions, name)

    @override
    async def count_assigned(self, name: str, version: str) -> int:
        return await self._read(count_assigned, name, version)

    @override
    async def put_assignments(self, wanted: Sequence[Assignment]) -> list[Assignment]:
        return await self._tx(put_assignments, wanted)

    @override
    async def get_assignments(self, device_id: str = "") -> list[Assignment]:
        return await self._read(get_assignments, device_id)

    @override
    async def record_model_report(self, device_id: str, report: ModelReportRecord) -> None:
        await self._tx(record_model_report, device_id, report)

    @override
    async def get_model_reports(self, device_id: str = "") -> list[tuple[str, ModelReportRecord]]:
        return await self._read(get_model_reports, device_id)

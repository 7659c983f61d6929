"""Registry tables (devices, cameras, tokens, desired state) on PostgreSQL, and their mixin.

Columns and their JSON encodings are SQLite's (`sqlite_registry`): rows are decoded by
the same functions, so both stores return identical records.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from typing_extensions import override

from fleet.errors import NotFoundError, UnauthenticatedError, VersionConflictError
from fleet.store import pg_events
from fleet.store import sqlite_registry as sreg
from fleet.store.base import Store
from fleet.store.records import (
    REVOKED,
    ApiToken,
    CameraHealth,
    CameraStatus,
    ConfigDoc,
    Device,
    DeviceHealth,
    EnrollmentToken,
    StateReportRecord,
)

Conn = asyncpg.Connection
T = TypeVar("T")
R = TypeVar("R")
RENDERED_SCOPE = sreg.RENDERED_SCOPE
# Config versions of one device: lock per device so two replicas' writes take turns.
_CONFIG_LOCK = 0x6F6B
_DEVICE_COLUMNS = sreg._DEVICE_COLUMNS


def _device(row: asyncpg.Record | None) -> Device | None:
    return sreg._device_from_row(tuple(row)) if row is not None else None


async def get_device(conn: Conn, device_id: str) -> Device | None:
    """The device with this id, or None."""
    return _device(
        await conn.fetchrow(
            f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE device_id = $1", device_id
        )
    )


async def get_device_by_serial(conn: Conn, serial: str) -> Device | None:
    """The device by certificate serial (stored lower-case)."""
    return _device(
        await conn.fetchrow(
            f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE cert_serial = $1", serial.lower()
        )
    )


async def list_devices(conn: Conn, site: str) -> list[Device]:
    """Devices of `site` (every site if empty), by name."""
    sql = f"SELECT {_DEVICE_COLUMNS} FROM devices"
    rows = (
        await conn.fetch(sql + " WHERE site = $1 ORDER BY name, device_id", site)
        if site
        else await conn.fetch(sql + " ORDER BY name, device_id")
    )
    return [sreg._device_from_row(tuple(row)) for row in rows]


async def enroll_device(conn: Conn, token_id: str, secret_hash: str, device: Device) -> Device:
    """Check and spend the token (row-locked: one replica wins), insert the device."""
    token = await _one(
        conn, EnrollmentToken, "enrollment_tokens", "WHERE token_id = $1 FOR UPDATE", token_id
    )
    if token is None or not hmac.compare_digest(token.secret_hash, secret_hash):
        raise UnauthenticatedError("enrollment token unknown")
    if token.used_us:
        raise UnauthenticatedError(f"enrollment token {token_id} was already used")
    if device.enrolled_us >= token.expires_us:
        raise UnauthenticatedError(f"enrollment token {token_id} has expired")
    await conn.execute(
        "UPDATE enrollment_tokens SET used_us = $1, used_by = $2 WHERE token_id = $3",
        device.enrolled_us,
        device.device_id,
        token_id,
    )
    await conn.execute(
        "INSERT INTO devices (device_id, name, site, hostname, agent_version, labels, cert_serial,"
        " cert_not_after_us, enrolled_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        device.device_id,
        device.name,
        token.site,
        device.hostname,
        device.agent_version,
        json.dumps(device.labels, sort_keys=True),
        device.cert_serial.lower(),
        device.cert_not_after_us,
        device.enrolled_us,
    )
    return dataclasses.replace(device, site=token.site)


async def revoke_device(conn: Conn, device_id: str, reason: str, at_us: int) -> Device:
    """Mark revoked (idempotent: a second revoke keeps the first reason and time)."""
    await conn.execute(
        "UPDATE devices SET status = $1, revoked_reason = $2, revoked_us = $3"
        " WHERE device_id = $4 AND status != $1",
        REVOKED,
        reason,
        at_us,
        device_id,
    )
    device = await get_device(conn, device_id)
    if device is None:
        raise NotFoundError(f"device {device_id!r} not found")
    return device


async def revoked_serials(conn: Conn) -> set[str]:
    """Certificate serials of every revoked device."""
    rows = await conn.fetch("SELECT cert_serial FROM devices WHERE status = $1", REVOKED)
    return {row[0] for row in rows}


async def record_hello(conn: Conn, device_id: str, agent_version: str, at_us: int) -> None:
    """Note agent version and last-seen time; an unknown device id changes nothing."""
    await conn.execute(
        "UPDATE devices SET agent_version = $1, last_seen_us = $2 WHERE device_id = $3",
        agent_version,
        at_us,
        device_id,
    )


async def record_health(conn: Conn, device_id: str, health: DeviceHealth) -> None:
    """Replace the device's last heartbeat and upsert one row per reported camera."""
    await conn.execute(
        "UPDATE devices SET health = $1, last_seen_us = $2 WHERE device_id = $3",
        json.dumps(dataclasses.asdict(health)),
        health.at_us,
        device_id,
    )
    names = sorted({cam.camera_id for cam in health.cameras})
    await conn.execute(
        "DELETE FROM cameras WHERE device_id = $1 AND NOT (camera_id = ANY($2::text[]))",
        device_id,
        names,
    )
    await conn.executemany(
        "INSERT INTO cameras (device_id, camera_id, health, updated_us) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (device_id, camera_id) DO UPDATE SET health = excluded.health,"
        " updated_us = excluded.updated_us",
        [
            (device_id, cam.camera_id, json.dumps(dataclasses.asdict(cam)), health.at_us)
            for cam in health.cameras
        ],
    )


async def record_state(conn: Conn, device_id: str, report: StateReportRecord) -> None:
    """Replace the device's last config state report."""
    await conn.execute(
        "UPDATE devices SET reported = $1, last_seen_us = $2 WHERE device_id = $3",
        json.dumps(dataclasses.asdict(report)),
        report.at_us,
        device_id,
    )


async def list_cameras(conn: Conn, device_id: str, site: str) -> list[CameraStatus]:
    """Cameras with their last health and last event time, by device then camera."""
    sql = (
        "SELECT c.device_id, d.site, c.health, c.updated_us FROM cameras c"
        " JOIN devices d ON d.device_id = c.device_id WHERE true"
    )
    args: list[str] = []
    if device_id:
        args.append(device_id)
        sql += f" AND c.device_id = ${len(args)}"
    if site:
        args.append(site)
        sql += f" AND d.site = ${len(args)}"
    rows = await conn.fetch(sql + " ORDER BY c.device_id, c.camera_id", *args)
    healths = [CameraHealth(**json.loads(row[2])) for row in rows]
    last = await pg_events.last_event_times(conn, [h.camera_id for h in healths])
    return [
        CameraStatus(
            device_id=row[0],
            site=row[1],
            health=health,
            updated_us=row[3],
            last_event_us=last.get(health.camera_id, 0),
        )
        for row, health in zip(rows, healths, strict=True)
    ]


async def _insert(conn: Conn, table: str, record: Any) -> None:
    """Insert a flat record whose field names are the table's column names."""
    names = [f.name for f in dataclasses.fields(record)]
    marks = ", ".join(f"${i + 1}" for i in range(len(names)))
    await conn.execute(
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", *dataclasses.astuple(record)
    )


async def _select(conn: Conn, cls: type[R], table: str, where: str = "", *args: str) -> list[R]:
    names = ", ".join(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    order = "" if "FOR UPDATE" in where else " ORDER BY created_us, token_id"
    rows = await conn.fetch(f"SELECT {names} FROM {table} {where}{order}", *args)
    return [cls(*row) for row in rows]


async def _one(conn: Conn, cls: type[R], table: str, where: str, *args: str) -> R | None:
    found = await _select(conn, cls, table, where, *args)
    return found[0] if found else None


async def get_config_docs(conn: Conn, device_id: str) -> dict[str, ConfigDoc]:
    """Newest document per scope, including the rendered one under RENDERED_SCOPE."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (scope) device_id, scope, version, document, sha256, created_us,"
        " author FROM config_docs WHERE device_id = $1 ORDER BY scope, version DESC",
        device_id,
    )
    return {row[1]: ConfigDoc(*row) for row in rows}


async def put_config(conn: Conn, doc: ConfigDoc, rendered: ConfigDoc, expected: int) -> None:
    """Insert a scope document and its rendering at version `expected` + 1, or refuse."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", _CONFIG_LOCK, doc.device_id
    )
    current = int(
        await conn.fetchval(
            "SELECT coalesce(max(version), 0) FROM config_docs WHERE device_id = $1", doc.device_id
        )
    )
    if current != expected or doc.version != current + 1 or rendered.version != doc.version:
        raise VersionConflictError(
            f"device {doc.device_id}: config is at version {current}, request was based on "
            f"{expected}; fetch it again and retry"
        )
    for item in (doc, rendered):
        await _insert(conn, "config_docs", item)


class RegistryMixin(Store):
    """Tokens, devices, cameras and desired state; needs the host's `_tx` and `_read`."""

    async def _tx(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    async def _read(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    @override
    async def add_api_token(self, token: ApiToken) -> None:
        await self._tx(_insert, "api_tokens", token)

    @override
    async def get_api_token(self, token_id: str) -> ApiToken | None:
        return await self._read(_one, ApiToken, "api_tokens", "WHERE token_id = $1", token_id)

    @override
    async def count_api_tokens(self) -> int:
        return len(await self.list_api_tokens())

    @override
    async def list_api_tokens(self) -> list[ApiToken]:
        return await self._read(_select, ApiToken, "api_tokens")

    @override
    async def delete_api_token(self, token_id: str) -> ApiToken | None:
        async def _delete(conn: Conn) -> ApiToken | None:
            row = await conn.fetchrow(
                "DELETE FROM api_tokens WHERE token_id = $1 RETURNING token_id, name, role,"
                " secret_hash, created_us, expires_us",
                token_id,
            )
            return ApiToken(*row) if row is not None else None

        return await self._tx(_delete)

    @override
    async def add_enrollment_token(self, token: EnrollmentToken) -> None:
        await self._tx(_insert, "enrollment_tokens", token)

    @override
    async def get_enrollment_token(self, token_id: str) -> EnrollmentToken | None:
        return await self._read(
            _one, EnrollmentToken, "enrollment_tokens", "WHERE token_id = $1", token_id
        )

    @override
    async def list_enrollment_tokens(self) -> list[EnrollmentToken]:
        return await self._read(_select, EnrollmentToken, "enrollment_tokens")

    @override
    async def enroll_device(self, token_id: str, secret_hash: str, device: Device) -> Device:
        return await self._tx(enroll_device, token_id, secret_hash, device)

    @override
    async def get_device(self, device_id: str) -> Device | None:
        return await self._read(get_device, device_id)

    @override
    async def get_device_by_serial(self, serial: str) -> Device | None:
        return await self._read(get_device_by_serial, serial)

    @override
    async def list_devices(self, site: str = "") -> list[Device]:
        return await self._read(list_devices, site)

    @override
    async def revoked_serials(self) -> set[str]:
        return await self._read(revoked_serials)

    @override
    async def revoke_device(self, device_id: str, reason: str, at_us: int) -> Device:
        return await self._tx(revoke_device, device_id, reason, at_us)

    @override
    async def record_hello(self, device_id: str, agent_version: str, at_us: int) -> None:
        await self._tx(record_hello, device_id, agent_version, at_us)

    @override
    async def record_health(self, device_id: str, health: DeviceHealth) -> None:
        await self._tx(record_health, device_id, health)

    @override
    async def record_state(self, device_id: str, report: StateReportRecord) -> None:
        await self._tx(record_state, device_id, report)

    @override
    async def list_cameras(self, device_id: str = "", site: str = "") -> list[CameraStatus]:
        return await self._read(list_cameras, device_id, site)

    @override
    async def get_config_docs(self, device_id: str) -> dict[str, ConfigDoc]:
        docs = await self._read(get_config_docs, device_id)
        docs.pop(RENDERED_SCOPE, None)
        return docs

    @override
    async def get_desired(self, device_id: str) -> ConfigDoc | None:
        return (await self._read(get_config_docs, device_id)).get(RENDERED_SCOPE)

    @override
    async def put_config(self, doc: ConfigDoc, rendered: ConfigDoc, expected_version: int) -> None:
        await self._tx(put_config, doc, rendered, expected_version)

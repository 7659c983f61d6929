"""Certificate renewal and reissue on PostgreSQL, and their mixin (tables: revision 0002).

Same rules as `sqlite_certs`: `devices.cert_serial` is the newest certificate,
`device_cert_grace` the one older certificate still accepted, `device_certs` the history,
`reissue_tokens` binds a token to a device. Between replicas, every change of a device's
certificates locks its `devices` row first (and a reissue its token row), so a renewal on
one replica and a reissue or revocation on another take turns.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from typing_extensions import override

from fleet.errors import NotFoundError, PermissionDeniedError, UnauthenticatedError
from fleet.store import pg_registry as reg
from fleet.store.base import Store
from fleet.store.cert_records import CertIssue, CertMatch, CertSummary, ReissueRequest
from fleet.store.records import ACTIVE, REVOKED, Device, EnrollmentToken

Conn = asyncpg.Connection
T = TypeVar("T")


async def _has_grace(conn: Conn, device_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM device_cert_grace WHERE device_id = $1)", device_id
        )
    )


async def device_by_certificate(conn: Conn, serial: str) -> CertMatch | None:
    """The device presenting `serial`: its newest certificate, or the one still in grace."""
    device = await reg.get_device_by_serial(conn, serial)
    if device is not None:
        return CertMatch(device, current=True, superseded=await _has_grace(conn, device.device_id))
    owner = await conn.fetchval(
        "SELECT device_id FROM device_cert_grace WHERE serial = $1", serial.lower()
    )
    if owner is None:
        return None
    device = await reg.get_device(conn, owner)
    return CertMatch(device, current=False) if device is not None else None


async def _locked(conn: Conn, device_id: str) -> Device | None:
    await conn.execute("SELECT 1 FROM devices WHERE device_id = $1 FOR UPDATE", device_id)
    return await reg.get_device(conn, device_id)


async def first_use(conn: Conn, device_id: str, serial: str, at_us: int) -> bool:
    """The box presented its newest certificate: retire the older one. False if not newest."""
    device = await _locked(conn, device_id)
    if device is None or device.cert_serial != serial.lower():
        return False
    await conn.execute("DELETE FROM device_cert_grace WHERE device_id = $1", device_id)
    await conn.execute(
        "UPDATE device_certs SET first_used_us = $1 WHERE serial = $2 AND first_used_us = 0",
        at_us,
        device.cert_serial,
    )
    return True


async def _install(conn: Conn, device: Device, issue: CertIssue) -> Device:
    serial = issue.serial.lower()
    await conn.execute(
        "UPDATE devices SET cert_serial = $1, cert_not_after_us = $2 WHERE device_id = $3",
        serial,
        issue.not_after_us,
        device.device_id,
    )
    await conn.execute(
        "INSERT INTO device_certs (serial, device_id, not_after_us, issued_us, origin,"
        " replaced_serial) VALUES ($1, $2, $3, $4, $5, $6)",
        serial,
        issue.device_id,
        issue.not_after_us,
        issue.issued_us,
        issue.origin,
        device.cert_serial,
    )
    return dataclasses.replace(device, cert_serial=serial, cert_not_after_us=issue.not_after_us)


async def _active(conn: Conn, device_id: str) -> Device:
    device = await _locked(conn, device_id)
    if device is None:
        raise NotFoundError(f"device {device_id!r} not found")
    if device.status == REVOKED:
        raise PermissionDeniedError(f"device {device_id} has been revoked")
    return device


async def renew_certificate(conn: Conn, presented: str, issue: CertIssue) -> Device:
    """Make `issue` the newest certificate, keeping the one the box used (sqlite_certs)."""
    device = await _active(conn, issue.device_id)
    presented = presented.lower()
    await conn.execute(
        "DELETE FROM device_cert_grace WHERE device_id = $1 AND not_after_us < $2",
        device.device_id,
        issue.issued_us,
    )
    if presented == device.cert_serial:
        await conn.execute("DELETE FROM device_cert_grace WHERE device_id = $1", device.device_id)
        await conn.execute(
            "INSERT INTO device_cert_grace (serial, device_id, not_after_us) VALUES ($1, $2, $3)",
            device.cert_serial,
            device.device_id,
            device.cert_not_after_us,
        )
    elif not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM device_cert_grace WHERE serial = $1 AND device_id = $2)",
        presented,
        device.device_id,
    ):
        raise UnauthenticatedError(
            f"certificate serial {presented} is no longer accepted for {device.device_id}"
        )
    return await _install(conn, device, issue)


async def add_reissue_token(conn: Conn, token: EnrollmentToken, device_id: str) -> None:
    """Store an enrollment token bound to an existing device."""
    await _active(conn, device_id)
    await reg._insert(conn, "enrollment_tokens", token)
    await conn.execute(
        "INSERT INTO reissue_tokens (token_id, device_id) VALUES ($1, $2)",
        token.token_id,
        device_id,
    )


async def reissue_binding(conn: Conn, token_id: str) -> str | None:
    """The device an enrollment token was minted for by `reissue`, or None."""
    found = await conn.fetchval(
        "SELECT device_id FROM reissue_tokens WHERE token_id = $1", token_id
    )
    return str(found) if found is not None else None


async def _spend(conn: Conn, request: ReissueRequest) -> None:
    token = await reg._one(
        conn,
        EnrollmentToken,
        "enrollment_tokens",
        "WHERE token_id = $1 FOR UPDATE",
        request.token_id,
    )
    if token is None or not hmac.compare_digest(token.secret_hash, request.secret_hash):
        raise UnauthenticatedError("enrollment token unknown")
    if token.used_us:
        raise UnauthenticatedError(f"enrollment token {request.token_id} was already used")
    if request.issue.issued_us >= token.expires_us:
        raise UnauthenticatedError(f"enrollment token {request.token_id} has expired")
    if await reissue_binding(conn, request.token_id) != request.device_id:
        raise UnauthenticatedError(f"enrollment token {request.token_id} is not for this device")
    await conn.execute(
        "UPDATE enrollment_tokens SET used_us = $1, used_by = $2 WHERE token_id = $3",
        request.issue.issued_us,
        request.device_id,
        request.token_id,
    )


async def reissue_device(conn: Conn, request: ReissueRequest) -> Device:
    """Spend a reissue token: the device gets the new certificate, every older one is void."""
    await _spend(conn, request)
    device = await _active(conn, request.device_id)
    await conn.execute("DELETE FROM device_cert_grace WHERE device_id = $1", device.device_id)
    await conn.execute(
        "UPDATE devices SET hostname = $1, agent_version = $2 WHERE device_id = $3",
        request.hostname,
        request.agent_version,
        device.device_id,
    )
    device = dataclasses.replace(
        device, hostname=request.hostname, agent_version=request.agent_version
    )
    return await _install(conn, device, request.issue)


async def cert_summaries(conn: Conn, device_id: str = "") -> dict[str, CertSummary]:
    """Renewal count, last issue and pending serial per device (only devices with any)."""
    args = (device_id,) if device_id else ()
    rows = await conn.fetch(
        "SELECT device_id, count(*), max(issued_us) FROM device_certs"
        + (" WHERE device_id = $1" if device_id else "")
        + " GROUP BY device_id",
        *args,
    )
    counts = {row[0]: (int(row[1]), int(row[2])) for row in rows}
    rows = await conn.fetch(
        "SELECT g.device_id, d.cert_serial FROM device_cert_grace g"
        " JOIN devices d ON d.device_id = g.device_id"
        + (" WHERE g.device_id = $1" if device_id else ""),
        *args,
    )
    pending = {row[0]: row[1] for row in rows}
    return {
        dev: CertSummary(
            renewals=counts.get(dev, (0, 0))[0],
            last_issued_us=counts.get(dev, (0, 0))[1],
            pending_serial=pending.get(dev, ""),
        )
        for dev in counts.keys() | pending.keys()
    }


async def active_expiries(conn: Conn) -> list[int]:
    """`cert_not_after_us` of every device not revoked: what the expiry gauges count."""
    rows = await conn.fetch("SELECT cert_not_after_us FROM devices WHERE status = $1", ACTIVE)
    return [int(row[0]) for row in rows]


class CertMixin(Store):
    """The certificate half of `PostgresStore`; needs the host's `_tx` and `_read`."""

    async def _tx(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    async def _read(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    @override
    async def device_by_certificate(self, serial: str) -> CertMatch | None:
        return await self._read(device_by_certificate, serial)

    @override
    async def certificate_first_used(self, device_id: str, serial: str, at_us: int) -> bool:
        return await self._tx(first_use, device_id, serial, at_us)

    @override
    async def renew_certificate(self, presented_serial: str, issue: CertIssue) -> Device:
        return await self._tx(renew_certificate, presented_serial, issue)

    @override
    async def add_reissue_token(self, token: EnrollmentToken, device_id: str) -> None:
        await self._tx(add_reissue_token, token, device_id)

    @override
    async def reissue_binding(self, token_id: str) -> str | None:
        return await self._read(reissue_binding, token_id)

    @override
    async def reissue_device(self, request: ReissueRequest) -> Device:
        return await self._tx(reissue_device, request)

    @override
    async def certificate_summaries(self, device_id: str = "") -> dict[str, CertSummary]:
        return await self._read(cert_summaries, device_id)

    @override
    async def active_certificate_expiries(self) -> list[int]:
        return await self._read(active_expiries)

"""Certificate renewal and reissue on a SQLite connection (tables in sqlite_schema.py).

`devices.cert_serial` is always the device's newest certificate. `device_cert_grace` holds
the one older certificate still accepted after a renewal - until the box first presents
the new one (then it is deleted) or it expires. `device_certs` is the history of every
certificate issued after enrollment. `reissue_tokens` binds an enrollment token to an
existing device (`okoctl device reissue`).
"""

from __future__ import annotations

import dataclasses
import hmac
import sqlite3

from fleet.errors import NotFoundError, PermissionDeniedError, UnauthenticatedError
from fleet.store import sqlite_registry as reg
from fleet.store.cert_records import CertIssue, CertMatch, CertSummary, ReissueRequest
from fleet.store.records import ACTIVE, REVOKED, Device, EnrollmentToken


def _has_grace(conn: sqlite3.Connection, device_id: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM device_cert_grace WHERE device_id = ? LIMIT 1", (device_id,)
    ).fetchone()
    return row is not None


def device_by_certificate(conn: sqlite3.Connection, serial: str) -> CertMatch | None:
    """The device presenting `serial`: its newest certificate, or the one still in grace."""
    device = reg.get_device_by_serial(conn, serial)
    if device is not None:
        return CertMatch(device, current=True, superseded=_has_grace(conn, device.device_id))
    row = conn.execute(
        "SELECT device_id FROM device_cert_grace WHERE serial = ?", (serial.lower(),)
    ).fetchone()
    if row is None:
        return None
    device = reg.get_device(conn, row[0])
    return CertMatch(device, current=False) if device is not None else None


def first_use(conn: sqlite3.Connection, device_id: str, serial: str, at_us: int) -> bool:
    """The box presented its newest certificate: retire the older one. False if not newest."""
    device = reg.get_device(conn, device_id)
    if device is None or device.cert_serial != serial.lower():
        return False
    conn.execute("DELETE FROM device_cert_grace WHERE device_id = ?", (device_id,))
    conn.execute(
        "UPDATE device_certs SET first_used_us = ? WHERE serial = ? AND first_used_us = 0",
        (at_us, device.cert_serial),
    )
    return True


def _insert_issue(conn: sqlite3.Connection, issue: CertIssue, replaced: str) -> None:
    conn.execute(
        "INSERT INTO device_certs (serial, device_id, not_after_us, issued_us, origin,"
        " replaced_serial) VALUES (?, ?, ?, ?, ?, ?)",
        (
            issue.serial.lower(),
            issue.device_id,
            issue.not_after_us,
            issue.issued_us,
            issue.origin,
            replaced,
        ),
    )


def _install(conn: sqlite3.Connection, device: Device, issue: CertIssue) -> Device:
    conn.execute(
        "UPDATE devices SET cert_serial = ?, cert_not_after_us = ? WHERE device_id = ?",
        (issue.serial.lower(), issue.not_after_us, device.device_id),
    )
    _insert_issue(conn, issue, device.cert_serial)
    return dataclasses.replace(
        device, cert_serial=issue.serial.lower(), cert_not_after_us=issue.not_after_us
    )


def _active(conn: sqlite3.Connection, device_id: str) -> Device:
    device = reg.get_device(conn, device_id)
    if device is None:
        raise NotFoundError(f"device {device_id!r} not found")
    if device.status == REVOKED:
        raise PermissionDeniedError(f"device {device_id} has been revoked")
    return device


def renew_certificate(conn: sqlite3.Connection, presented: str, issue: CertIssue) -> Device:
    """Make `issue` the device's newest certificate, keeping the one it was used with.

    Renewing with the newest certificate puts that one into grace. Renewing with the
    one in grace (the box never got, or never kept, the certificate of its last renewal)
    keeps grace as it is and drops the never-used newest one. Either way exactly the
    certificate the box holds stays accepted, and nothing it never used piles up.
    """
    device = _active(conn, issue.device_id)
    presented = presented.lower()
    conn.execute(
        "DELETE FROM device_cert_grace WHERE device_id = ? AND not_after_us < ?",
        (device.device_id, issue.issued_us),
    )
    if presented == device.cert_serial:
        conn.execute("DELETE FROM device_cert_grace WHERE device_id = ?", (device.device_id,))
        conn.execute(
            "INSERT INTO device_cert_grace (serial, device_id, not_after_us) VALUES (?, ?, ?)",
            (device.cert_serial, device.device_id, device.cert_not_after_us),
        )
    else:
        row = conn.execute(
            "SELECT 1 FROM device_cert_grace WHERE serial = ? AND device_id = ?",
            (presented, device.device_id),
        ).fetchone()
        if row is None:
            raise UnauthenticatedError(
                f"certificate serial {presented} is no longer accepted for {device.device_id}"
            )
    return _install(conn, device, issue)


def add_reissue_token(conn: sqlite3.Connection, token: EnrollmentToken, device_id: str) -> None:
    """Store an enrollment token bound to an existing device (site = the device's)."""
    _active(conn, device_id)
    reg.add_enrollment_token(conn, token)
    conn.execute(
        "INSERT INTO reissue_tokens (token_id, device_id) VALUES (?, ?)",
        (token.token_id, device_id),
    )


def reissue_binding(conn: sqlite3.Connection, token_id: str) -> str | None:
    """The device an enrollment token was minted for by `reissue`, or None."""
    row = conn.execute(
        "SELECT device_id FROM reissue_tokens WHERE token_id = ?", (token_id,)
    ).fetchone()
    return str(row[0]) if row else None


def _spend(conn: sqlite3.Connection, request: ReissueRequest) -> None:
    token = reg.get_enrollment_token(conn, request.token_id)
    if token is None or not hmac.compare_digest(token.secret_hash, request.secret_hash):
        raise UnauthenticatedError("enrollment token unknown")
    if token.used_us:
        raise UnauthenticatedError(f"enrollment token {request.token_id} was already used")
    if request.issue.issued_us >= token.expires_us:
        raise UnauthenticatedError(f"enrollment token {request.token_id} has expired")
    if reissue_binding(conn, request.token_id) != request.device_id:
        raise UnauthenticatedError(f"enrollment token {request.token_id} is not for this device")
    conn.execute(
        "UPDATE enrollment_tokens SET used_us = ?, used_by = ? WHERE token_id = ?",
        (request.issue.issued_us, request.device_id, request.token_id),
    )


def reissue_device(conn: sqlite3.Connection, request: ReissueRequest) -> Device:
    """Spend a reissue token: the device gets the new certificate, every older one is void."""
    _spend(conn, request)
    device = _active(conn, request.device_id)
    conn.execute("DELETE FROM device_cert_grace WHERE device_id = ?", (device.device_id,))
    conn.execute(
        "UPDATE devices SET hostname = ?, agent_version = ? WHERE device_id = ?",
        (request.hostname, request.agent_version, device.device_id),
    )
    device = dataclasses.replace(
        device, hostname=request.hostname, agent_version=request.agent_version
    )
    return _install(conn, device, request.issue)


def cert_summaries(conn: sqlite3.Connection, device_id: str = "") -> dict[str, CertSummary]:
    """Renewal count, last issue and pending serial per device (only devices with any)."""
    where, args = ("WHERE device_id = ?", (device_id,)) if device_id else ("", ())
    counts = {
        row[0]: (int(row[1]), int(row[2]))
        for row in conn.execute(
            f"SELECT device_id, count(*), max(issued_us) FROM device_certs {where}"
            " GROUP BY device_id",
            args,
        )
    }
    pending = {
        row[0]: row[1]
        for row in conn.execute(
            "SELECT g.device_id, d.cert_serial FROM device_cert_grace g"
            " JOIN devices d ON d.device_id = g.device_id"
            + (" WHERE g.device_id = ?" if device_id else ""),
            args,
        )
    }
    return {
        dev: CertSummary(
            renewals=counts.get(dev, (0, 0))[0],
            last_issued_us=counts.get(dev, (0, 0))[1],
            pending_serial=pending.get(dev, ""),
        )
        for dev in counts.keys() | pending.keys()
    }


def active_expiries(conn: sqlite3.Connection) -> list[int]:
    """`cert_not_after_us` of every device not revoked: what the expiry gauges count."""
    return [
        int(row[0])
        for row in conn.execute("SELECT cert_not_after_us FROM devices WHERE status = ?", (ACTIVE,))
    ]

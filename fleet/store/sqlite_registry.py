"""Registry tables (devices, cameras, tokens, desired state) on a SQLite connection.

Small nested values (labels, last health, last state report) are JSON columns: they are
always read and written whole, never queried inside, so a join table would buy nothing.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import sqlite3
from typing import Any, TypeVar

from fleet.errors import NotFoundError, UnauthenticatedError, VersionConflictError
from fleet.store import sqlite_events
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

RENDERED_SCOPE = "*"
R = TypeVar("R")
_DEVICE_COLUMNS = (
    "device_id, name, site, hostname, agent_version, labels, cert_serial, cert_not_after_us,"
    " enrolled_us, status, revoked_reason, revoked_us, last_seen_us, health, reported"
)


def _health_from_json(text: str | None) -> DeviceHealth | None:
    if not text:
        return None
    data: dict[str, Any] = json.loads(text)
    cameras = tuple(CameraHealth(**cam) for cam in data.pop("cameras", []))
    return DeviceHealth(cameras=cameras, **data)


def _device_from_row(row: tuple[Any, ...]) -> Device:
    reported = json.loads(row[14]) if row[14] else None
    return Device(
        device_id=row[0],
        name=row[1],
        site=row[2],
        hostname=row[3],
        agent_version=row[4],
        labels=json.loads(row[5]),
        cert_serial=row[6],
        cert_not_after_us=row[7],
        enrolled_us=row[8],
        status=row[9],
        revoked_reason=row[10],
        revoked_us=row[11],
        last_seen_us=row[12],
        health=_health_from_json(row[13]),
        reported=_report(reported) if reported else None,
    )


def get_device(conn: sqlite3.Connection, device_id: str) -> Device | None:
    """The device with this id, or None."""
    row = conn.execute(
        f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE device_id = ?", (device_id,)
    ).fetchone()
    return _device_from_row(row) if row else None


def get_device_by_serial(conn: sqlite3.Connection, serial: str) -> Device | None:
    """The device by certificate serial; serials are stored lower-case, so any case matches."""
    row = conn.execute(
        f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE cert_serial = ?", (serial.lower(),)
    ).fetchone()
    return _device_from_row(row) if row else None


def list_devices(conn: sqlite3.Connection, site: str) -> list[Device]:
    """Devices of `site` (every site if empty), by name."""
    sql = f"SELECT {_DEVICE_COLUMNS} FROM devices"
    rows = (
        conn.execute(sql + " WHERE site = ? ORDER BY name", (site,))
        if site
        else conn.execute(sql + " ORDER BY name")
    )
    return [_device_from_row(row) for row in rows]


def enroll_device(
    conn: sqlite3.Connection, token_id: str, secret_hash: str, device: Device
) -> Device:
    """Check and spend the token, insert the device: the caller's transaction makes it atomic."""
    token = get_enrollment_token(conn, token_id)
    if token is None or not hmac.compare_digest(token.secret_hash, secret_hash):
        raise UnauthenticatedError("enrollment token unknown")
    if token.used_us:
        raise UnauthenticatedError(f"enrollment token {token_id} was already used")
    if device.enrolled_us >= token.expires_us:
        raise UnauthenticatedError(f"enrollment token {token_id} has expired")
    conn.execute(
        "UPDATE enrollment_tokens SET used_us = ?, used_by = ? WHERE token_id = ?",
        (device.enrolled_us, device.device_id, token_id),
    )
    conn.execute(
        "INSERT INTO devices (device_id, name, site, hostname, agent_version, labels, cert_serial,"
        " cert_not_after_us, enrolled_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            device.device_id,
            device.name,
            token.site,
            device.hostname,
            device.agent_version,
            json.dumps(device.labels, sort_keys=True),
            device.cert_serial.lower(),
            device.cert_not_after_us,
            device.enrolled_us,
        ),
    )
    return dataclasses.replace(device, site=token.site)


def revoke_device(conn: sqlite3.Connection, device_id: str, reason: str, at_us: int) -> Device:
    """Mark revoked (idempotent: a second revoke keeps the first reason and time)."""
    conn.execute(
        "UPDATE devices SET status = ?, revoked_reason = ?, revoked_us = ? WHERE device_id = ?"
        " AND status != ?",
        (REVOKED, reason, at_us, device_id, REVOKED),
    )
    device = get_device(conn, device_id)
    if device is None:
        raise NotFoundError(f"device {device_id!r} not found")
    return device


def revoked_serials(conn: sqlite3.Connection) -> set[str]:
    """Certificate serials of every revoked device."""
    return {
        row[0]
        for row in conn.execute("SELECT cert_serial FROM devices WHERE status = ?", (REVOKED,))
    }


def record_hello(conn: sqlite3.Connection, device_id: str, agent_version: str, at_us: int) -> None:
    """Note agent version and last-seen time; an unknown device id changes nothing."""
    conn.execute(
        "UPDATE devices SET agent_version = ?, last_seen_us = ? WHERE device_id = ?",
        (agent_version, at_us, device_id),
    )


def record_health(conn: sqlite3.Connection, device_id: str, health: DeviceHealth) -> None:
    """Replace the device's last heartbeat and upsert one row per reported camera."""
    data = dataclasses.asdict(health)
    conn.execute(
        "UPDATE devices SET health = ?, last_seen_us = ? WHERE device_id = ?",
        (json.dumps(data), health.at_us, device_id),
    )
    # A heartbeat names all of the box's cameras: the ones it no longer names are gone, so
    # a box's rows stay bounded by limits.max_cameras_per_device however its ids change.
    names = sorted({cam.camera_id for cam in health.cameras})
    marks = ",".join("?" * len(names))
    conn.execute(
        f"DELETE FROM cameras WHERE device_id = ? AND camera_id NOT IN ({marks})",
        (device_id, *names),
    )
    conn.executemany(
        "INSERT INTO cameras (device_id, camera_id, health, updated_us) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (device_id, camera_id) DO UPDATE SET health = excluded.health,"
        " updated_us = excluded.updated_us",
        [
            (device_id, cam.camera_id, json.dumps(dataclasses.asdict(cam)), health.at_us)
            for cam in health.cameras
        ],
    )


def _report(stored: dict[str, Any]) -> StateReportRecord:
    labels = tuple(stored.pop("detector_labels", ()))  # JSON gives a list
    return StateReportRecord(**stored, detector_labels=labels)


def record_state(conn: sqlite3.Connection, device_id: str, report: StateReportRecord) -> None:
    """Replace the device's last config state report."""
    conn.execute(
        "UPDATE devices SET reported = ?, last_seen_us = ? WHERE device_id = ?",
        (json.dumps(dataclasses.asdict(report)), report.at_us, device_id),
    )


def list_cameras(conn: sqlite3.Connection, device_id: str, site: str) -> list[CameraStatus]:
    """Cameras with their last health and last event time, by device then camera."""
    sql = (
        "SELECT c.device_id, d.site, c.health, c.updated_us FROM cameras c"
        " JOIN devices d ON d.device_id = c.device_id WHERE 1 = 1"
    )
    args: list[str] = []
    if device_id:
        sql += " AND c.device_id = ?"
        args.append(device_id)
    if site:
        sql += " AND d.site = ?"
        args.append(site)
    rows = conn.execute(sql + " ORDER BY c.device_id, c.camera_id", args).fetchall()
    healths = [CameraHealth(**json.loads(row[2])) for row in rows]
    last = sqlite_events.last_event_times(conn, [h.camera_id for h in healths])
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


def _insert(conn: sqlite3.Connection, table: str, record: Any) -> None:
    """Insert a flat record whose field names are the table's column names."""
    names = [f.name for f in dataclasses.fields(record)]
    conn.execute(
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        dataclasses.astuple(record),
    )


def _select(
    conn: sqlite3.Connection, cls: type[R], table: str, where: str = "", args: tuple[str, ...] = ()
) -> list[R]:
    names = ", ".join(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    rows = conn.execute(f"SELECT {names} FROM {table} {where} ORDER BY created_us", args)
    return [cls(*row) for row in rows]


def add_api_token(conn: sqlite3.Connection, token: ApiToken) -> None:
    """Insert an API token; a duplicate id raises sqlite3.IntegrityError."""
    _insert(conn, "api_tokens", token)


def get_api_token(conn: sqlite3.Connection, token_id: str) -> ApiToken | None:
    """The API token with this id, or None."""
    found = _select(conn, ApiToken, "api_tokens", "WHERE token_id = ?", (token_id,))
    return found[0] if found else None


def list_api_tokens(conn: sqlite3.Connection) -> list[ApiToken]:
    """Every API token, oldest first."""
    return _select(conn, ApiToken, "api_tokens")


def delete_api_token(conn: sqlite3.Connection, token_id: str) -> ApiToken | None:
    """Remove a token (revocation); the removed record, or None if there was none."""
    found = get_api_token(conn, token_id)
    if found is not None:
        conn.execute("DELETE FROM api_tokens WHERE token_id = ?", (token_id,))
    return found


def add_enrollment_token(conn: sqlite3.Connection, token: EnrollmentToken) -> None:
    """Insert an enrollment token; a duplicate id raises sqlite3.IntegrityError."""
    _insert(conn, "enrollment_tokens", token)


def get_enrollment_token(conn: sqlite3.Connection, token_id: str) -> EnrollmentToken | None:
    """The enrollment token with this id, or None."""
    found = _select(conn, EnrollmentToken, "enrollment_tokens", "WHERE token_id = ?", (token_id,))
    return found[0] if found else None


def list_enrollment_tokens(conn: sqlite3.Connection) -> list[EnrollmentToken]:
    """Every enrollment token, oldest first."""
    return _select(conn, EnrollmentToken, "enrollment_tokens")


def get_config_docs(conn: sqlite3.Connection, device_id: str) -> dict[str, ConfigDoc]:
    """Newest document per scope, including the rendered one under RENDERED_SCOPE."""
    rows = conn.execute(
        "SELECT device_id, scope, version, document, sha256, created_us, author FROM config_docs c"
        " WHERE device_id = ? AND version = (SELECT max(version) FROM config_docs"
        " WHERE device_id = c.device_id AND scope = c.scope)",
        (device_id,),
    )
    return {row[1]: ConfigDoc(*row) for row in rows}


def current_version(conn: sqlite3.Connection, device_id: str) -> int:
    """The device's newest config version over all scopes (0 before the first)."""
    row = conn.execute(
        "SELECT max(version) FROM config_docs WHERE device_id = ?", (device_id,)
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def put_config(
    conn: sqlite3.Connection, doc: ConfigDoc, rendered: ConfigDoc, expected: int
) -> None:
    """Insert a scope document and its rendering at version `expected` + 1, or refuse."""
    current = current_version(conn, doc.device_id)
    if current != expected or doc.version != current + 1 or rendered.version != doc.version:
        raise VersionConflictError(
            f"device {doc.device_id}: config is at version {current}, request was based on "
            f"{expected}; fetch it again and retry"
        )
    for item in (doc, rendered):
        _insert(conn, "config_docs", item)

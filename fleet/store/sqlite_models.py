"""Model registry tables (signing keys, versions, assignments, reports) on a connection.

Each function runs inside the caller's transaction (`SqliteStore._write`) or on a reader
connection; reports are one JSON column because they are always read and written whole.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from fleet.errors import AlreadyExistsError
from fleet.models.records import (
    Assignment,
    ModelRefRecord,
    ModelReportRecord,
    ModelVersion,
    SigningKeyRecord,
    WarmupRecord,
)

_KEY_COLUMNS = "key_id, public_key, name, added_us, added_by, endorsed_by, endorsement"
_VERSION_COLUMNS = (
    "name, version, sha256, size, manifest, signature, key_id, pushed_us, pushed_by, frames"
)
_ASSIGNMENT_COLUMNS = (
    "device_id, slot, name, version, assignment_id, assigned_us, assigned_by, sha256, rollback"
)


def add_signing_key(conn: sqlite3.Connection, key: SigningKeyRecord) -> None:
    """Insert a trusted key; a known key id is an AlreadyExistsError."""
    try:
        conn.execute(
            f"INSERT INTO model_signing_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            dataclasses.astuple(key),
        )
    except sqlite3.IntegrityError:
        raise AlreadyExistsError(f"signing key {key.key_id} is already trusted") from None


def list_signing_keys(conn: sqlite3.Connection) -> list[SigningKeyRecord]:
    """Every trusted key, oldest first (endorsers before the keys they endorsed)."""
    rows = conn.execute(f"SELECT {_KEY_COLUMNS} FROM model_signing_keys ORDER BY added_us, key_id")
    return [SigningKeyRecord(r[0], bytes(r[1]), r[2], r[3], r[4], r[5], bytes(r[6])) for r in rows]


def _version(row: tuple[Any, ...]) -> ModelVersion:
    return ModelVersion(
        name=row[0],
        version=row[1],
        sha256=row[2],
        size=row[3],
        manifest=row[4],
        signature=bytes(row[5]),
        key_id=row[6],
        pushed_us=row[7],
        pushed_by=row[8],
        frames=tuple(json.loads(row[9])),
    )


def add_model_version(conn: sqlite3.Connection, version: ModelVersion) -> None:
    """Insert a version; name@version stored before is an AlreadyExistsError (immutable)."""
    try:
        conn.execute(
            f"INSERT INTO model_versions ({_VERSION_COLUMNS}) VALUES ({', '.join('?' * 10)})",
            (*dataclasses.astuple(version)[:-1], json.dumps(list(version.frames))),
        )
    except sqlite3.IntegrityError:
        raise AlreadyExistsError(
            f"model {version.name}@{version.version} exists; versions are immutable, "
            "push a new version"
        ) from None


def get_model_version(conn: sqlite3.Connection, name: str, version: str) -> ModelVersion | None:
    """One stored version, or None."""
    row = conn.execute(
        f"SELECT {_VERSION_COLUMNS} FROM model_versions WHERE name = ? AND version = ?",
        (name, version),
    ).fetchone()
    return _version(row) if row else None


def list_model_versions(conn: sqlite3.Connection, name: str) -> list[ModelVersion]:
    """Versions of `name` (all models when empty), by name then push time."""
    where, args = ("WHERE name = ?", (name,)) if name else ("", ())
    rows = conn.execute(
        f"SELECT {_VERSION_COLUMNS} FROM model_versions {where} ORDER BY name, pushed_us", args
    )
    return [_version(r) for r in rows]


def _assignment(row: tuple[Any, ...]) -> Assignment:
    return Assignment(
        device_id=row[0],
        slot=row[1],
        name=row[2],
        version=row[3],
        assignment_id=row[4],
        assigned_us=row[5],
        assigned_by=row[6],
        sha256=row[7],
        rollback=bool(row[8]),
    )


def put_assignments(conn: sqlite3.Connection, wanted: Sequence[Assignment]) -> list[Assignment]:
    """Replace each (device, slot)'s assignment; ids continue from the stored one + 1.

    `assignment_id` of the records given is ignored: the store numbers them, in this one
    transaction, so two assigners at once still give each device increasing ids.
    """
    out = []
    for item in wanted:
        row = conn.execute(
            "SELECT assignment_id FROM model_assignments WHERE device_id = ? AND slot = ?",
            (item.device_id, item.slot),
        ).fetchone()
        stored = dataclasses.replace(item, assignment_id=(row[0] if row else 0) + 1)
        conn.execute(
            f"INSERT OR REPLACE INTO model_assignments ({_ASSIGNMENT_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*dataclasses.astuple(stored)[:-1], int(stored.rollback)),
        )
        out.append(stored)
    return out


def get_assignments(conn: sqlite3.Connection, device_id: str) -> list[Assignment]:
    """Assignments of one device (every device when empty), by device then slot."""
    where, args = ("WHERE device_id = ?", (device_id,)) if device_id else ("", ())
    rows = conn.execute(
        f"SELECT {_ASSIGNMENT_COLUMNS} FROM model_assignments {where} ORDER BY device_id, slot",
        args,
    )
    return [_assignment(r) for r in rows]


def count_assigned(conn: sqlite3.Connection, name: str, version: str) -> int:
    """How many devices are assigned name@version now (any slot)."""
    row = conn.execute(
        "SELECT count(*) FROM model_assignments WHERE name = ? AND version = ?", (name, version)
    ).fetchone()
    return int(row[0])


def record_model_report(
    conn: sqlite3.Connection, device_id: str, report: ModelReportRecord
) -> None:
    """Replace the device's last report for the report's slot."""
    conn.execute(
        "INSERT OR REPLACE INTO model_reports (device_id, slot, report) VALUES (?, ?, ?)",
        (device_id, report.slot, json.dumps(dataclasses.asdict(report))),
    )


def _report(text: str) -> ModelReportRecord:
    data: dict[str, Any] = json.loads(text)
    return ModelReportRecord(
        slot=data["slot"],
        assignment_id=data["assignment_id"],
        state=data["state"],
        running=ModelRefRecord(**data["running"]),
        previous=ModelRefRecord(**data["previous"]),
        attempted=ModelRefRecord(**data["attempted"]),
        error=data["error"],
        warmup=WarmupRecord(**data["warmup"]),
        bytes_done=data["bytes_done"],
        bytes_total=data["bytes_total"],
        at_us=data["at_us"],
        received_us=data["received_us"],
    )


def get_model_reports(
    conn: sqlite3.Connection, device_id: str
) -> list[tuple[str, ModelReportRecord]]:
    """(device_id, report) of one device (every device when empty), by device then slot."""
    where, args = ("WHERE device_id = ?", (device_id,)) if device_id else ("", ())
    rows = conn.execute(
        f"SELECT device_id, report FROM model_reports {where} ORDER BY device_id, slot", args
    )
    return [(r[0], _report(r[1])) for r in rows]

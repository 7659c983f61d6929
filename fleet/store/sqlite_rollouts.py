"""Rollout tables on a SQLite connection (called on the store's own threads).

A rollout row carries a `revision` bumped by every save, and `save_rollout` refuses a save
based on an older revision: the controller's tick and an operator's pause can race, and
neither may silently undo the other. Small nested values (the spec, a box's previous
model and gate results) are JSON columns, always read and written whole.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from fleet.errors import NotFoundError, VersionConflictError
from fleet.rollouts.records import (
    ACTIVE,
    GateResult,
    LatencySample,
    ModelRef,
    Rollout,
    RolloutDevice,
)
from fleet.rollouts.settings import RolloutSpec

#: Process starts kept per device (the crash-loop gate needs the recent ones only).
MAX_STARTS_PER_DEVICE = 100
#: Latency samples kept per device and rollout (10 s heartbeats: over an hour).
MAX_SAMPLES_PER_DEVICE = 500

_ROLLOUT_COLUMNS = (
    "rollout_id, spec, state, step, step_started_us, created_us, created_by, updated_us,"
    " reason, paused_from, paused_us, finished_us, revision"
)
_DEVICE_COLUMNS = (
    "rollout_id, device_id, position, verdict, step, assigned_us, previous, running_us,"
    " reason, gates, rollback_us, skipped_step"
)


def _rollout(row: tuple[Any, ...]) -> Rollout:
    return Rollout(
        rollout_id=row[0],
        spec=RolloutSpec.model_validate_json(row[1]),
        state=row[2],
        step=row[3],
        step_started_us=row[4],
        created_us=row[5],
        created_by=row[6],
        updated_us=row[7],
        reason=row[8],
        paused_from=row[9],
        paused_us=row[10],
        finished_us=row[11],
        revision=row[12],
    )


def _device(row: tuple[Any, ...]) -> RolloutDevice:
    return RolloutDevice(
        rollout_id=row[0],
        device_id=row[1],
        position=row[2],
        verdict=row[3],
        step=row[4],
        assigned_us=row[5],
        previous=ModelRef(**json.loads(row[6])),
        running_us=row[7],
        reason=row[8],
        gates=tuple(GateResult(**g) for g in json.loads(row[9])),
        rollback_us=row[10],
        skipped_step=row[11],
    )


def _device_row(d: RolloutDevice) -> tuple[Any, ...]:
    return (
        d.rollout_id,
        d.device_id,
        d.position,
        d.verdict,
        d.step,
        d.assigned_us,
        json.dumps(dataclasses.asdict(d.previous), sort_keys=True),
        d.running_us,
        d.reason,
        json.dumps([dataclasses.asdict(g) for g in d.gates]),
        d.rollback_us,
        d.skipped_step,
    )


def _busy_devices(conn: sqlite3.Connection, device_ids: Sequence[str]) -> dict[str, str]:
    """Device -> id of the active rollout that already covers it."""
    marks = ",".join("?" * len(ACTIVE))
    rows = conn.execute(
        "SELECT d.device_id, r.rollout_id FROM rollout_devices d JOIN rollouts r"
        f" ON r.rollout_id = d.rollout_id WHERE r.state IN ({marks})",
        ACTIVE,
    )
    wanted = set(device_ids)
    return {device: rollout for device, rollout in rows if device in wanted}


def create_rollout(
    conn: sqlite3.Connection, rollout: Rollout, devices: Sequence[RolloutDevice]
) -> None:
    """Insert a rollout with its boxes, unless one of them is in another active rollout."""
    busy = _busy_devices(conn, [d.device_id for d in devices])
    if busy:
        device, other = sorted(busy.items())[0]
        raise VersionConflictError(
            f"device {device} is already in active rollout {other} "
            f"({len(busy)} of the selected devices are): abort or finish it first"
        )
    r = rollout
    conn.execute(
        f"INSERT INTO rollouts ({_ROLLOUT_COLUMNS}, model_name, model_version)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            r.rollout_id,
            r.spec.model_dump_json(),
            r.state,
            r.step,
            r.step_started_us,
            r.created_us,
            r.created_by,
            r.updated_us,
            r.reason,
            r.paused_from,
            r.paused_us,
            r.finished_us,
            1,
            r.spec.model_name,
            r.spec.model_version,
        ),
    )
    conn.executemany(
        f"INSERT INTO rollout_devices ({_DEVICE_COLUMNS}) VALUES ({', '.join('?' * 12)})",
        [_device_row(d) for d in devices],
    )


def get_rollout(conn: sqlite3.Connection, rollout_id: str) -> Rollout:
    """The rollout with this id; NotFoundError otherwise."""
    row = conn.execute(
        f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts WHERE rollout_id = ?", (rollout_id,)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"rollout {rollout_id!r} not found")
    return _rollout(row)


def list_rollouts(conn: sqlite3.Connection, states: Sequence[str], limit: int) -> list[Rollout]:
    """Rollouts in `states` (all if empty), newest first, at most `limit`."""
    sql = f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts"
    args: list[Any] = []
    if states:
        sql += f" WHERE state IN ({','.join('?' * len(states))})"
        args.extend(states)
    args.append(limit)
    rows = conn.execute(sql + " ORDER BY created_us DESC, rollout_id LIMIT ?", args)
    return [_rollout(row) for row in rows]


def rollout_devices(conn: sqlite3.Connection, rollout_id: str) -> list[RolloutDevice]:
    """The rollout's boxes in their deterministic order."""
    rows = conn.execute(
        f"SELECT {_DEVICE_COLUMNS} FROM rollout_devices WHERE rollout_id = ? ORDER BY position",
        (rollout_id,),
    )
    return [_device(row) for row in rows]


def save_rollout(
    conn: sqlite3.Connection, rollout: Rollout, devices: Sequence[RolloutDevice]
) -> Rollout:
    """Store a new state read at `rollout.revision`; VersionConflictError if it moved on."""
    r = rollout
    updated = conn.execute(
        "UPDATE rollouts SET state = ?, step = ?, step_started_us = ?, updated_us = ?,"
        " reason = ?, paused_from = ?, paused_us = ?, finished_us = ?, revision = revision + 1"
        " WHERE rollout_id = ? AND revision = ?",
        (
            r.state,
            r.step,
            r.step_started_us,
            r.updated_us,
            r.reason,
            r.paused_from,
            r.paused_us,
            r.finished_us,
            r.rollout_id,
            r.revision,
        ),
    ).rowcount
    if not updated:
        current = get_rollout(conn, r.rollout_id)  # NotFoundError if it vanished
        raise VersionConflictError(
            f"rollout {r.rollout_id} changed meanwhile (now {current.state}, revision "
            f"{current.revision}, not {r.revision}); read it again"
        )
    conn.executemany(
        "UPDATE rollout_devices SET verdict = ?, step = ?, assigned_us = ?, previous = ?,"
        " running_us = ?, reason = ?, gates = ?, rollback_us = ?, skipped_step = ?"
        " WHERE rollout_id = ? AND device_id = ?",
        [(*_device_row(d)[3:], d.rollout_id, d.device_id) for d in devices],
    )
    return dataclasses.replace(r, revision=r.revision + 1)


def record_start(conn: sqlite3.Connection, device_id: str, started_us: int, seen_us: int) -> None:
    """Remember one agent process start (first sighting wins); keep the newest ones only."""
    conn.execute(
        "INSERT OR IGNORE INTO device_starts (device_id, started_us, first_seen_us)"
        " VALUES (?, ?, ?)",
        (device_id, started_us, seen_us),
    )
    conn.execute(
        "DELETE FROM device_starts WHERE device_id = ? AND started_us NOT IN (SELECT started_us"
        " FROM device_starts WHERE device_id = ? ORDER BY started_us DESC LIMIT ?)",
        (device_id, device_id, MAX_STARTS_PER_DEVICE),
    )


def device_starts(conn: sqlite3.Connection, device_ids: Sequence[str]) -> dict[str, list[int]]:
    """Process start times per device, oldest first."""
    out: dict[str, list[int]] = {d: [] for d in device_ids}
    for device_id in out:
        rows = conn.execute(
            "SELECT started_us FROM device_starts WHERE device_id = ? ORDER BY started_us",
            (device_id,),
        )
        out[device_id] = [int(row[0]) for row in rows]
    return out


def add_latency(
    conn: sqlite3.Connection, rollout_id: str, samples: Sequence[LatencySample]
) -> None:
    """Keep heartbeat latency samples (a repeat of the same heartbeat is ignored)."""
    conn.executemany(
        "INSERT OR IGNORE INTO rollout_latency (rollout_id, device_id, at_us, inference_ms)"
        " VALUES (?, ?, ?, ?)",
        [(rollout_id, s.device_id, s.at_us, s.inference_ms) for s in samples],
    )
    for device_id in {s.device_id for s in samples}:
        conn.execute(
            "DELETE FROM rollout_latency WHERE rollout_id = ? AND device_id = ? AND at_us NOT IN"
            " (SELECT at_us FROM rollout_latency WHERE rollout_id = ? AND device_id = ?"
            " ORDER BY at_us DESC LIMIT ?)",
            (rollout_id, device_id, rollout_id, device_id, MAX_SAMPLES_PER_DEVICE),
        )


def latency_samples(conn: sqlite3.Connection, rollout_id: str) -> list[LatencySample]:
    """Every latency sample of the rollout, by device and time."""
    rows = conn.execute(
        "SELECT device_id, at_us, inference_ms FROM rollout_latency WHERE rollout_id = ?"
        " ORDER BY device_id, at_us",
        (rollout_id,),
    )
    return [LatencySample(row[0], int(row[1]), float(row[2])) for row in rows]


def model_changes(
    conn: sqlite3.Connection, device_ids: Sequence[str], except_rollout: str
) -> dict[str, list[int]]:
    """When other rollouts assigned these boxes a model or gave one back, oldest first."""
    out: dict[str, list[int]] = {d: [] for d in device_ids}
    for device_id in out:
        rows = conn.execute(
            "SELECT assigned_us, rollback_us FROM rollout_devices WHERE device_id = ?"
            " AND rollout_id != ?",
            (device_id, except_rollout),
        )
        out[device_id] = sorted(t for row in rows for t in row if t)
    return out

"""Rollout tables on PostgreSQL: the same records and encodings as `sqlite_rollouts`.

Rows are decoded by `sqlite_rollouts`' functions. Creating a rollout takes a transaction-
scoped advisory lock, so two replicas creating rollouts over the same boxes at once cannot
both pass the "already in an active rollout" check; saves are revision-checked as on
SQLite, so a replica's tick and another replica's pause never overwrite each other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from typing_extensions import override

from fleet.errors import NotFoundError, VersionConflictError
from fleet.rollouts.records import ACTIVE, LatencySample, Rollout, RolloutDevice
from fleet.store import sqlite_rollouts as sro
from fleet.store.base import Store

Conn = asyncpg.Connection
T = TypeVar("T")
_CREATE_LOCK = 0x6F6B6F726F6C6C  # "okoroll": serialises rollout creation across replicas


def _marks(n: int, start: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(start, start + n))


async def create_rollout(conn: Conn, rollout: Rollout, devices: Sequence[RolloutDevice]) -> None:
    """Insert a rollout with its boxes unless one is in another active rollout."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _CREATE_LOCK)
    busy = await conn.fetch(
        "SELECT d.device_id, r.rollout_id FROM rollout_devices d JOIN rollouts r"
        " ON r.rollout_id = d.rollout_id WHERE r.state = ANY($1::text[])"
        " AND d.device_id = ANY($2::text[]) ORDER BY d.device_id",
        list(ACTIVE),
        [d.device_id for d in devices],
    )
    if busy:
        raise VersionConflictError(
            f"device {busy[0][0]} is already in active rollout {busy[0][1]} "
            f"({len(busy)} of the selected devices are): abort or finish it first"
        )
    r = rollout
    await conn.execute(
        f"INSERT INTO rollouts ({sro._ROLLOUT_COLUMNS}, model_name, model_version)"
        f" VALUES ({_marks(15)})",
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
    )
    await conn.executemany(
        f"INSERT INTO rollout_devices ({sro._DEVICE_COLUMNS}) VALUES ({_marks(12)})",
        [sro._device_row(d) for d in devices],
    )


async def get_rollout(conn: Conn, rollout_id: str) -> Rollout:
    """The rollout with this id; NotFoundError otherwise."""
    row = await conn.fetchrow(
        f"SELECT {sro._ROLLOUT_COLUMNS} FROM rollouts WHERE rollout_id = $1", rollout_id
    )
    if row is None:
        raise NotFoundError(f"rollout {rollout_id!r} not found")
    return sro._rollout(tuple(row))


async def list_rollouts(conn: Conn, states: Sequence[str], limit: int) -> list[Rollout]:
    """Rollouts in `states` (all if empty), newest first, at most `limit`."""
    sql = f"SELECT {sro._ROLLOUT_COLUMNS} FROM rollouts"
    order = " ORDER BY created_us DESC, rollout_id"
    rows = (
        await conn.fetch(
            sql + " WHERE state = ANY($1::text[])" + order + " LIMIT $2", list(states), limit
        )
        if states
        else await conn.fetch(sql + order + " LIMIT $1", limit)
    )
    return [sro._rollout(tuple(r)) for r in rows]


async def rollout_devices(conn: Conn, rollout_id: str) -> list[RolloutDevice]:
    """The rollout's boxes in their deterministic order."""
    rows = await conn.fetch(
        f"SELECT {sro._DEVICE_COLUMNS} FROM rollout_devices WHERE rollout_id = $1"
        " ORDER BY position",
        rollout_id,
    )
    return [sro._device(tuple(r)) for r in rows]


async def save_rollout(conn: Conn, rollout: Rollout, devices: Sequence[RolloutDevice]) -> Rollout:
    """Store a new state read at `rollout.revision`; VersionConflictError if it moved on."""
    r = rollout
    status = await conn.execute(
        "UPDATE rollouts SET state = $1, step = $2, step_started_us = $3, updated_us = $4,"
        " reason = $5, paused_from = $6, paused_us = $7, finished_us = $8,"
        " revision = revision + 1 WHERE rollout_id = $9 AND revision = $10",
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
    )
    if status == "UPDATE 0":
        current = await get_rollout(conn, r.rollout_id)
        raise VersionConflictError(
            f"rollout {r.rollout_id} changed meanwhile (now {current.state}, revision "
            f"{current.revision}, not {r.revision}); read it again"
        )
    await conn.executemany(
        "UPDATE rollout_devices SET verdict = $1, step = $2, assigned_us = $3, previous = $4,"
        " running_us = $5, reason = $6, gates = $7, rollback_us = $8, skipped_step = $9"
        " WHERE rollout_id = $10 AND device_id = $11",
        [(*sro._device_row(d)[3:], d.rollout_id, d.device_id) for d in devices],
    )
    return dataclasses.replace(r, revision=r.revision + 1)


async def record_start(conn: Conn, device_id: str, started_us: int, seen_us: int) -> None:
    """Remember one agent process start (first sighting wins); keep the newest ones only."""
    await conn.execute(
        "INSERT INTO device_starts (device_id, started_us, first_seen_us) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING",
        device_id,
        started_us,
        seen_us,
    )
    await conn.execute(
        "DELETE FROM device_starts WHERE device_id = $1 AND started_us NOT IN (SELECT"
        " started_us FROM device_starts WHERE device_id = $1 ORDER BY started_us DESC"
        " LIMIT $2)",
        device_id,
        sro.MAX_STARTS_PER_DEVICE,
    )


async def device_starts(conn: Conn, device_ids: Sequence[str]) -> dict[str, list[int]]:
    """Process start times per device, oldest first."""
    out: dict[str, list[int]] = {d: [] for d in device_ids}
    rows = await conn.fetch(
        "SELECT device_id, started_us FROM device_starts WHERE device_id = ANY($1::text[])"
        " ORDER BY device_id, started_us",
        list(out),
    )
    for row in rows:
        out[row[0]].append(int(row[1]))
    return out


async def model_changes(
    conn: Conn, device_ids: Sequence[str], except_rollout: str
) -> dict[str, list[int]]:
    """When other rollouts assigned these boxes a model or gave one back, oldest first."""
    out: dict[str, list[int]] = {d: [] for d in device_ids}
    rows = await conn.fetch(
        "SELECT device_id, assigned_us, rollback_us FROM rollout_devices"
        " WHERE device_id = ANY($1::text[]) AND rollout_id != $2",
        list(out),
        except_rollout,
    )
    for row in rows:
        out[row[0]].extend(int(t) for t in (row[1], row[2]) if t)
    return {d: sorted(times) for d, times in out.items()}


async def add_latency(conn: Conn, rollout_id: str, samples: Sequence[LatencySample]) -> None:
    """Keep heartbeat latency samples (a repeat of the same heartbeat is ignored)."""
    await conn.executemany(
        "INSERT INTO rollout_latency (rollout_id, device_id, at_us, inference_ms)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        [(rollout_id, s.device_id, s.at_us, s.inference_ms) for s in samples],
    )
    for device_id in sorted({s.device_id for s in samples}):
        await conn.execute(
            "DELETE FROM rollout_latency WHERE rollout_id = $1 AND device_id = $2 AND at_us"
            " NOT IN (SELECT at_us FROM rollout_latency WHERE rollout_id = $1 AND"
            " device_id = $2 ORDER BY at_us DESC LIMIT $3)",
            rollout_id,
            device_id,
            sro.MAX_SAMPLES_PER_DEVICE,
        )


async def latency_samples(conn: Conn, rollout_id: str) -> list[LatencySample]:
    """Every latency sample of the rollout, by device and time."""
    rows = await conn.fetch(
        "SELECT device_id, at_us, inference_ms FROM rollout_latency WHERE rollout_id = $1"
        " ORDER BY device_id, at_us",
        rollout_id,
    )
    return [LatencySample(r[0], int(r[1]), float(r[2])) for r in rows]


class RolloutMixin(Store):
    """The rollout part of `PostgresStore`; needs the host's `_tx` and `_read`."""

    async def _tx(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    async def _read(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    @override
    async def create_rollout(self, rollout: Rollout, devices: Sequence[RolloutDevice]) -> None:
        await self._tx(create_rollout, rollout, list(devices))

    @override
    async def get_rollout(self, rollout_id: str) -> Rollout:
        return await self._read(get_rollout, rollout_id)

    @override
    async def list_rollouts(self, states: Sequence[str] = (), limit: int = 100) -> list[Rollout]:
        return await self._read(list_rollouts, tuple(states), limit)

    @override
    async def rollout_devices(self, rollout_id: str) -> list[RolloutDevice]:
        return await self._read(rollout_devices, rollout_id)

    @override
    async def save_rollout(self, rollout: Rollout, devices: Sequence[RolloutDevice]) -> Rollout:
        return await self._tx(save_rollout, rollout, list(devices))

    @override
    async def record_start(self, device_id: str, started_us: int, seen_us: int) -> None:
        await self._tx(record_start, device_id, started_us, seen_us)

    @override
    async def device_starts(self, device_ids: Sequence[str]) -> dict[str, list[int]]:
        return await self._read(device_starts, list(device_ids))

    @override
    async def model_changes(
        self, device_ids: Sequence[str], except_rollout: str = ""
    ) -> dict[str, list[int]]:
        return await self._read(model_changes, list(device_ids), except_rollout)

    @override
    async def add_latency(self, rollout_id: str, samples: Sequence[LatencySample]) -> None:
        await self._tx(add_latency, rollout_id, list(samples))

    @override
    async def latency_samples(self, rollout_id: str) -> list[LatencySample]:
        return await self._read(latency_samples, rollout_id)

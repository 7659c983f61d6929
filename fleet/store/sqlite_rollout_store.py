"""The rollout half of `SqliteStore`: async methods over `sqlite_rollouts` queries.

A mixin so that `fleet/store/sqlite.py` only lists it among its bases; the contract of each
method is documented on `fleet.store.base.Store`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from typing_extensions import override

from fleet.rollouts.records import LatencySample, Rollout, RolloutDevice
from fleet.store import sqlite_rollouts as ro
from fleet.store.base import Store

T = TypeVar("T")


class RolloutStoreMixin(Store):
    """Needs the host class's `_write` (writer thread, one transaction) and `_read`."""

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` in one write transaction (the host class's)."""
        raise NotImplementedError

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` on a reader connection (the host class's)."""
        raise NotImplementedError

    @override
    async def create_rollout(self, rollout: Rollout, devices: Sequence[RolloutDevice]) -> None:
        await self._write(ro.create_rollout, rollout, list(devices))

    @override
    async def get_rollout(self, rollout_id: str) -> Rollout:
        return await self._read(ro.get_rollout, rollout_id)

    @override
    async def list_rollouts(self, states: Sequence[str] = (), limit: int = 100) -> list[Rollout]:
        return await self._read(ro.list_rollouts, tuple(states), limit)

    @override
    async def rollout_devices(self, rollout_id: str) -> list[RolloutDevice]:
        return await self._read(ro.rollout_devices, rollout_id)

    @override
    async def save_rollout(self, rollout: Rollout, devices: Sequence[RolloutDevice]) -> Rollout:
        return await self._write(ro.save_rollout, rollout, list(devices))

    @override
    async def record_start(self, device_id: str, started_us: int, seen_us: int) -> None:
        await self._write(ro.record_start, device_id, started_us, seen_us)

    @override
    async def device_starts(self, device_ids: Sequence[str]) -> dict[str, list[int]]:
        return await self._read(ro.device_starts, list(device_ids))

    @override
    async def add_latency(self, rollout_id: str, samples: Sequence[LatencySample]) -> None:
        await self._write(ro.add_latency, rollout_id, list(samples))

    @override
    async def latency_samples(self, rollout_id: str) -> list[LatencySample]:
        return await self._read(ro.latency_samples, rollout_id)

    @override
    async def model_changes(
        self, device_ids: Sequence[str], except_rollout: str = ""
    ) -> dict[str, list[int]]:
        return await self._read(ro.model_changes, list(device_ids), except_rollout)

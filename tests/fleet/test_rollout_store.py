"""The rollout tables of both real stores (SQLite, PostgreSQL): revisions, exclusivity,
bounds, reopening."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fleet.errors import NotFoundError, VersionConflictError
from fleet.rollouts.records import (
    CANARY,
    DONE,
    PENDING,
    GateResult,
    LatencySample,
    ModelRef,
    Rollout,
    RolloutDevice,
)
from fleet.rollouts.settings import RolloutSpec
from fleet.store import sqlite_rollouts
from tests.fleet.conftest import opened_store

pytestmark = pytest.mark.anyio
S = 1_000_000
T0 = 1_800_000_000 * S


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _spec() -> RolloutSpec:
    return RolloutSpec(
        model_name="nanodet-g",
        model_version="2",
        selector="site=north",
        canary_percent=10,
        steps=(100,),
        interval_seconds=60,
    )


def _rollout(rollout_id: str) -> Rollout:
    return Rollout(rollout_id, _spec(), PENDING, T0, "alice", step_started_us=T0, updated_us=T0)


async def test_rollouts_persist_with_revisions_and_a_box_is_in_one_active_rollout(
    store_kind: str, tmp_path: Path
) -> None:
    async with opened_store(store_kind, tmp_path / "store") as store:
        devices = [RolloutDevice("ro-a", f"dev-{i}", i) for i in range(3)]
        await store.create_rollout(_rollout("ro-a"), devices)
        with pytest.raises(VersionConflictError, match="dev-1 is already in active rollout ro-a"):
            await store.create_rollout(_rollout("ro-b"), [RolloutDevice("ro-b", "dev-1", 0)])
        stored = await store.get_rollout("ro-a")
        assert stored.revision == 1 and stored.spec == _spec()
        moved = replace(stored, state=CANARY, step=0, reason="canary started")
        box = replace(
            devices[0],
            verdict="updating",
            step=0,
            assigned_us=T0 + S,
            previous=ModelRef("nanodet-g", "1.0.0", "ab" * 32, "shipped"),
            gates=(GateResult("apply", "wait", "state downloading after 1 s"),),
        )
        saved = await store.save_rollout(moved, [box])
        assert saved.revision == 2
        with pytest.raises(VersionConflictError, match="changed meanwhile"):
            await store.save_rollout(moved, [box])  # based on revision 1: refused
        done = await store.save_rollout(replace(saved, state=DONE), [])
        # Finished: its boxes may join another rollout.
        await store.create_rollout(_rollout("ro-b"), [RolloutDevice("ro-b", "dev-1", 0)])
        assert [r.rollout_id for r in await store.list_rollouts((DONE,))] == ["ro-a"]
        assert done.revision == 3
    async with opened_store(store_kind, tmp_path / "store") as reopened:
        again = await reopened.get_rollout("ro-a")
        assert (again.state, again.revision) == (DONE, 3)
        first = (await reopened.rollout_devices("ro-a"))[0]
        assert first == box
        assert await reopened.model_changes(["dev-0"], "ro-b") == {"dev-0": [T0 + S]}
        assert await reopened.model_changes(["dev-0"], "ro-a") == {"dev-0": []}
        with pytest.raises(NotFoundError, match="rollout 'ro-x' not found"):
            await reopened.get_rollout("ro-x")


async def test_what_a_box_announces_is_bounded(store_kind: str, tmp_path: Path) -> None:
    """A box reconnecting with a new process start each time cannot grow the store."""
    async with opened_store(store_kind, tmp_path / "store") as store:
        for i in range(sqlite_rollouts.MAX_STARTS_PER_DEVICE + 50):
            await store.record_start("dev-0", T0 + i * S, T0 + i * S)
        await store.record_start("dev-0", T0 + 149 * S, T0 + 999 * S)  # the same start again
        starts = (await store.device_starts(["dev-0"]))["dev-0"]
        assert len(starts) == sqlite_rollouts.MAX_STARTS_PER_DEVICE
        assert starts[-1] == T0 + 149 * S and starts[0] == T0 + 50 * S
        many = [LatencySample("dev-0", T0 + i * S, 10.0) for i in range(600)]
        await store.add_latency("ro-a", many)
        await store.add_latency("ro-a", many[-10:])  # a repeated heartbeat is ignored
        kept = await store.latency_samples("ro-a")
        assert len(kept) == sqlite_rollouts.MAX_SAMPLES_PER_DEVICE
        assert kept[-1].at_us == T0 + 599 * S

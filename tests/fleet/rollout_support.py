"""Shared parts of the rollout tests: signed model versions, a fleet, simulated boxes, calls.

The fleet is the real server (in a thread of this process, or as `oko-fleet serve`), the
boxes are `tests.support.sim_boxes` (real enrolled certificates and mTLS streams that
download, verify and report like a box); the models are the shipped nanodet-g FP32 file
packaged and signed as new versions the way an operator does it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc

from proto import transport
from proto.oko.v1 import rollouts_pb2 as pb
from proto.oko.v1 import rollouts_pb2_grpc
from tests.fleet.helpers import store_for
from tests.support import sim_boxes
from tests.support.fleet import FleetHandle
from tests.support.model_artifacts import FP32, SigningKey, packaged, push, trust
from tests.uplink.harness import ThreadFleet

GOOD = "2.0.0-fp32"
BLIND = "2.0.0-blind"  # the same bytes under another version: the simulated boxes go blind
TERMINAL = ("done", "aborted", "rolled_back")


def package_versions(key: SigningKey, frames: list[Path], root: Path) -> dict[str, Path]:
    """FP32 nanodet-g packaged and signed as GOOD and as BLIND."""
    return {
        v: packaged(FP32, "nanodet-g", v, frames=frames, out=root / v, key=key)
        for v in (GOOD, BLIND)
    }


@asynccontextmanager
async def thread_fleet(
    data_dir: Path,
    key: SigningKey,
    versions: dict[str, Path],
    tick_s: float = 0.2,
    store: str = "sqlite",
) -> AsyncIterator[FleetHandle]:
    """A real fleet in its own thread (on `store`), trusting `key`, with `versions` pushed."""
    server = ThreadFleet(data_dir)
    rollouts = server.settings.rollouts.model_copy(update={"tick_seconds": tick_s})
    server.settings = server.settings.model_copy(
        update={"rollouts": rollouts, "store": store_for(data_dir, store)}
    )
    handle = await asyncio.to_thread(server.start)
    try:
        await asyncio.to_thread(trust, handle, key, "release")
        for version, path in versions.items():
            await asyncio.to_thread(push, handle, path, "nanodet-g", version)
        yield handle
    finally:
        handle.close()
        await asyncio.to_thread(server.close)


async def sim_fleet(
    handle: FleetHandle,
    sites: Iterable[str],
    behaviours: dict[str, sim_boxes.Behaviour],
    seed: int = 0,
) -> list[sim_boxes.SimBox]:
    """One enrolled simulated box per entry of `sites`."""
    boxes = []
    for i, site in enumerate(sites):
        token = await asyncio.to_thread(handle.enrollment_token, site)
        ident = await sim_boxes.enroll(handle.api, handle.ca_pem, token, f"{site}-{i}")
        boxes.append(
            sim_boxes.SimBox(
                ident,
                f"127.0.0.1:{handle.agent_port}",
                behaviours=behaviours,
                seed=seed + i,
            )
        )
    return boxes


def stub(handle: FleetHandle) -> rollouts_pb2_grpc.RolloutServiceStub:
    return rollouts_pb2_grpc.RolloutServiceStub(handle.channel())


def call(handle: FleetHandle, method: str, request: object, token: str = "") -> Any:
    """One RolloutService call as the admin (or `token`)."""
    metadata = transport.bearer_metadata(token or handle.admin_token)
    return getattr(stub(handle), method)(request, metadata=metadata, timeout=30)


def create(handle: FleetHandle, version: str, **fields: object) -> pb.Rollout:
    """CreateRollout with quick test defaults. Simulated boxes have no tracker, so no burst
    of re-found tracks after a swap: a 2 s settle time is enough for them."""
    values: dict[str, object] = {
        "model_name": "nanodet-g",
        "model_version": version,
        "selector": "site=north",
        "canary_percent": 25,
        "steps": [100],
        "interval_seconds": 3,
        "max_failure_percent": 0,
        "baseline_seconds": 1,
    }
    gates = {"settle_seconds": 2, **dict(fields.pop("gates", None) or {})}  # type: ignore[call-overload]
    values.update(fields, gates=gates)
    return call(handle, "CreateRollout", pb.CreateRolloutRequest(**values))  # type: ignore[arg-type]


def get(handle: FleetHandle, rollout_id: str) -> pb.Rollout:
    return call(handle, "GetRollout", pb.GetRolloutRequest(rollout_id=rollout_id))


async def wait_state(
    handle: FleetHandle, rollout_id: str, states: Iterable[str], timeout: float = 90
) -> pb.Rollout:
    """Poll until the rollout is in one of `states` (fail on another terminal one)."""
    wanted = tuple(states)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        r = await asyncio.to_thread(get, handle, rollout_id)
        if r.state in wanted:
            return r
        if r.state in TERMINAL:
            raise AssertionError(f"rollout ended {r.state}: {r.reason}")
        if loop.time() > deadline:
            raise AssertionError(f"rollout still {r.state} after {timeout:.0f} s: {r.reason}")
        await asyncio.sleep(0.2)


def code_of(err: grpc.RpcError) -> grpc.StatusCode:
    return err.code()


async def wait_canary(handle: FleetHandle, rollout_id: str, timeout: float = 60) -> pb.Rollout:
    """The rollout once its canary boxes are assigned (they wait for a baseline first)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        r = await asyncio.to_thread(get, handle, rollout_id)
        if r.state in TERMINAL:
            raise AssertionError(f"rollout ended {r.state}: {r.reason}")
        if any(d.step == 0 for d in r.devices):
            return r
        if loop.time() > deadline:
            raise AssertionError(f"no canary box assigned after {timeout:.0f} s: {r}")
        await asyncio.sleep(0.2)

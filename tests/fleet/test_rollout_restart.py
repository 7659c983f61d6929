"""A rollout survives a real fleet restart: `oko-fleet serve` is killed mid-canary.

The process is SIGKILLed (nothing flushed) while the canary soaks, kept down longer than
the offline gate's window, and started again on the same data directory and ports. The
controller resumes from the stored state: same rollout, same canary box, the canary's
soak continues, the fleet's own downtime is not held against the boxes (they were
silent only because the fleet was gone), and the rollout finishes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from tests.fleet.rollout_support import (
    GOOD,
    create,
    get,
    package_versions,
    sim_fleet,
    wait_canary,
    wait_state,
)
from tests.support import sim_boxes
from tests.support.fleet import FleetCli
from tests.support.model_artifacts import SigningKey, make_key, push, reference_frames, trust
from tests.support.net import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]
OFFLINE_S = 15  # the smallest window the gate allows


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _fleet(tmp_path: Path) -> FleetCli:
    settings = tmp_path / "fleet.yaml"
    settings.write_text(yaml.safe_dump({"rollouts": {"tick_seconds": 0.3}}))
    cli = FleetCli(tmp_path / "fleet", free_port(), free_port())
    cli.args += ["--config", str(settings)]
    return cli


async def test_the_controller_resumes_a_rollout_after_the_fleet_was_killed(
    tmp_path: Path,
) -> None:
    key: SigningKey = make_key(tmp_path / "keys")
    frames = reference_frames(tmp_path / "frames", (260,))
    versions = package_versions(key, frames, tmp_path / "versions")
    cli = await asyncio.to_thread(_fleet(tmp_path).start)
    fleet = cli.handle()
    try:
        await asyncio.to_thread(trust, fleet, key, "release")
        await asyncio.to_thread(push, fleet, versions[GOOD], "nanodet-g", GOOD)
        boxes = await sim_fleet(fleet, ["north"] * 4, {})
        async with sim_boxes.running(boxes):
            await asyncio.sleep(2)
            r = await asyncio.to_thread(
                create,
                fleet,
                GOOD,
                interval_seconds=8,
                gates={"offline_seconds": OFFLINE_S},
            )
            canary = await wait_canary(fleet, r.rollout_id)
            picked = [d.device_id for d in canary.devices if d.step == 0]
            box = next(b for b in boxes if b.device_id in picked)
            for _ in range(100):
                if box.running.version == GOOD:
                    break
                await asyncio.sleep(0.1)
            assert box.running.version == GOOD

            await asyncio.to_thread(cli.kill)
            fleet.close()
            await asyncio.sleep(OFFLINE_S + 2)  # silent longer than the offline window
            await asyncio.to_thread(cli.start)
            fleet = cli.handle()

            resumed = await asyncio.to_thread(get, fleet, r.rollout_id)
            assert resumed.state in ("canary", "progressing"), resumed.reason
            assert [d.device_id for d in resumed.devices if d.step == 0] == picked
            done = await wait_state(fleet, r.rollout_id, ["done"], timeout=120)
        assert done.healthy == 4 and done.failed == 0, done
        offline = [g for d in done.devices for g in d.gates if g.gate == "offline"]
        assert offline and all(g.verdict == "pass" for g in offline)
        assert all(b.running.version == GOOD for b in boxes)
    finally:
        fleet.close()
        await asyncio.to_thread(cli.stop)

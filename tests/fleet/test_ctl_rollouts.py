"""`okoctl rollout ...` against a real fleet and simulated boxes: output, errors, exit codes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.ctl import app
from tests.fleet.rollout_support import BLIND, GOOD, package_versions, sim_fleet, thread_fleet
from tests.fleet.test_rollout_service import BEHAVIOURS
from tests.support import sim_boxes
from tests.support.fleet import FleetHandle
from tests.support.model_artifacts import SigningKey, make_key, reference_frames

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def okoctl(fleet: FleetHandle, ca: Path, *args: str) -> tuple[int, str, str]:
    env = {
        "OKO_FLEET": fleet.api,
        "OKO_TOKEN": fleet.admin_token,
        "OKO_CA_FILE": str(ca),
        "COLUMNS": "220",
    }
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


async def test_rollout_commands(tmp_path: Path) -> None:
    key: SigningKey = make_key(tmp_path / "keys")
    versions = package_versions(key, reference_frames(tmp_path / "frames", (260,)), tmp_path / "v")
    async with thread_fleet(tmp_path / "fleet", key, versions) as fleet:
        ca = tmp_path / "ca.pem"
        ca.write_bytes(fleet.ca_pem)
        boxes = await sim_fleet(fleet, ["north"] * 3, BEHAVIOURS)
        run = ("--selector", "site=north", "--canary", "34%", "--steps", "100")
        # Simulated boxes have no tracker: no burst of re-found tracks to settle after a swap.
        quick = (
            *run,
            "--interval",
            "3s",
            "--max-failure",
            "0%",
            "--baseline",
            "1s",
            "--gate",
            "settle_seconds=2",
        )
        async with sim_boxes.running(boxes):
            code, out, err = await okoctl(
                fleet, ca, "rollout", "create", "--model", f"nanodet-g@{GOOD}", *quick, "--dry-run"
            )
            assert code == 0 and "dry run: nothing was started" in err, (out, err)
            assert "canary 34%, then 100%" in out and "0 of 3 updated" in out

            for bad, code_wanted, message in (
                (
                    ("--canary", "80%"),
                    1,
                    "error: INVALID_ARGUMENT: CreateRolloutRequest: 1 "
                    "invalid field(s)\n  canary_percent: Input should be less than or equal to 50",
                ),
                (("--canary", "lots"), 2, "error: --canary: 'lots' is not a percentage"),
                (("--gate", "bogus=1"), 2, "error: --gate 'bogus=1': expected KEY=VALUE"),
                (("--interval", "soon"), 2, "'soon' is not a duration"),
            ):  # the last of a repeated option wins
                code, out, err = await okoctl(
                    fleet, ca, "rollout", "create", "--model", f"nanodet-g@{GOOD}", *quick, *bad
                )
                assert code == code_wanted and message in err, (bad, code, err)
            code, _, err = await okoctl(
                fleet, ca, "rollout", "create", "--model", "nanodet-g", *quick
            )
            assert code == 2 and "--model: 'nanodet-g' is not NAME@VERSION" in err

            await asyncio.sleep(3)  # a baseline from the shipped model
            code, out, err = await okoctl(
                fleet, ca, "--json", "rollout", "create", "--model", f"nanodet-g@{BLIND}", *quick
            )
            assert code == 0, err
            blind = json.loads(out)["rollout_id"]
            code, out, err = await okoctl(fleet, ca, "rollout", "watch", blind, "--every", "1s")
            assert code == 1, (out, err)  # rolled back: watch says so with its exit code
            assert "rolled_back" in out and "quality" in out

            code, out, err = await okoctl(
                fleet, ca, "--json", "rollout", "create", "--model", f"nanodet-g@{GOOD}", *quick
            )
            good = json.loads(out)["rollout_id"]
            code, out, err = await okoctl(fleet, ca, "rollout", "watch", good, "--every", "1s")
            assert code == 0, (out, err)
            lines = [line for line in out.splitlines() if " | " in line]
            assert lines and lines[-1].split(" ", 2)[1] == "done", out
            assert "3 boxes run nanodet-g@2.0.0-fp32" in out

            code, out, _ = await okoctl(fleet, ca, "rollout", "list")
            assert code == 0 and good in out and blind in out and "rolled_back" in out
            code, out, _ = await okoctl(fleet, ca, "--json", "rollout", "show", good)
            shown = json.loads(out)
            assert shown["state"] == "done" and len(shown["devices"]) == 3
            assert all(d["verdict"] == "healthy" for d in shown["devices"])

            # pause, resume, abort: a rollout that would take long to finish on its own.
            for box in boxes:
                assert box.running.version == GOOD
            code, out, err = await okoctl(
                fleet,
                ca,
                "--json",
                "rollout",
                "create",
                "--model",
                f"nanodet-g@{BLIND}",
                *run,
                "--interval",
                "10m",
                "--baseline",
                "10m",
            )
            slow = json.loads(out)["rollout_id"]
            code, out, _ = await okoctl(fleet, ca, "rollout", "pause", slow, "--reason", "lunch")
            assert code == 0 and f"{slow} paused: paused (paused by bootstrap-admin)" in out
            code, out, _ = await okoctl(fleet, ca, "rollout", "pause", slow)
            assert code == 1
            code, out, _ = await okoctl(fleet, ca, "rollout", "resume", slow)
            assert code == 0 and "resumed: pending" in out
            code, out, _ = await okoctl(fleet, ca, "rollout", "abort", slow, "--keep-updated")
            assert code == 0 and "aborted: aborted (aborted by bootstrap-admin" in out
            code, _, err = await okoctl(fleet, ca, "rollout", "show", "ro-000000000000")
            assert code == 1 and "error: NOT_FOUND: rollout 'ro-000000000000' not found" in err
            code, _, err = await okoctl(fleet, ca, "rollout", "pause", "x" * 5000)
            assert code == 1 and "INVALID_ARGUMENT: rollout_id must be 'ro-' and 12 hex" in err

"""Faults during delivery: a download cut by a fleet crash resumes; a box killed during a
swap comes back on a consistent, verified model.

Real processes: `oko-fleet serve` SIGKILLed and restarted on the same ports and data dir
while a rate-capped box downloads; `oko-agent run` SIGKILLed while it verifies and warms up
a model, and again right after it persisted its new choice.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.models.boxes import BoxProcess, enrolled_box
from tests.models.conftest import V2
from tests.models.helpers import device_id, rollback, runs, settled, versions_in_order
from tests.support.fleet import FleetCli, FleetHandle
from tests.support.model_artifacts import assign, push, status
from tests.support.net import wait_until

V1 = "1.0.0"


def test_a_download_cut_by_a_fleet_crash_resumes_where_it_stopped(
    fleet_cli: FleetCli, fleet: FleetHandle, fp32_v2: Path, long_clip: Path, tmp_path: Path
) -> None:
    stored = push(fleet, fp32_v2, "nanodet-g", V2)
    rate = stored.size // 12  # about 12 s for the whole file
    config = enrolled_box(fleet, tmp_path / "box", long_clip, download_bytes_per_s=rate)
    box = BoxProcess(config).start()
    device = device_id(tmp_path / "box")
    partial = box.data_dir / "models" / "partial" / stored.sha256
    try:
        wait_until(lambda: status(fleet, device).report.running.name, 60, "a report")
        reply = assign(fleet, [device], "nanodet-g", V2)
        wait_until(
            lambda: partial.exists() and partial.stat().st_size > stored.size // 4,
            60,
            "a quarter of the model on the box",
        )
        fleet_cli.kill()
        held = partial.stat().st_size
        assert 0 < held < stored.size
        time.sleep(1.0)
        assert partial.stat().st_size >= held  # the partial file is kept, not thrown away
        fleet_cli.start()
        slot = settled(fleet, device, reply.assignments[0].assignment_id)
        assert slot.state == "running", slot.report.error
        assert box.metric("oko_agent_model_download_resumes_total") >= 1
        # Resumed, not restarted: the bytes received are the file once (plus what was in
        # flight when the fleet died), not the file again from zero.
        received = box.metric("oko_agent_model_download_bytes_total")
        assert stored.size <= received < stored.size + held // 2
        assert not partial.exists()  # promoted to a verified file
        wait_until(lambda: V2 in versions_in_order(fleet), 120, "events from the new model")
    finally:
        box.stop()


def _consistent_after_restart(box: BoxProcess, fleet: FleetHandle, device: str) -> str:
    """Restart a killed box; it must report and stamp the model its state file names."""
    chosen = box.state()["detector"]["running"]
    events_before = len(versions_in_order(fleet))
    box.start()
    version = wait_until(
        lambda: (
            (r := status(fleet, device).report).running.version == chosen["version"]
            and r.running.sha256 == chosen["sha256"]
            and r.running.version
        ),
        60,
        "the restarted box to report its persisted model",
    )
    wait_until(lambda: len(versions_in_order(fleet)) > events_before, 120, "events after restart")
    return str(version)


def test_a_box_killed_during_a_swap_comes_back_on_a_consistent_model(
    fleet: FleetHandle, fp32_v2: Path, long_clip: Path, tmp_path: Path
) -> None:
    stored = push(fleet, fp32_v2, "nanodet-g", V2)
    box = BoxProcess(enrolled_box(fleet, tmp_path / "box", long_clip)).start()
    device = device_id(tmp_path / "box")
    try:
        wait_until(lambda: V1 in versions_in_order(fleet), 120, "events from the shipped model")
        reply = assign(fleet, [device], "nanodet-g", V2)

        # 1. Killed while verifying or warming up: the download is complete, the swap not.
        def checking() -> bool:
            slot = status(fleet, device)
            busy = slot.state in ("verifying", "warming")
            return busy and slot.report.bytes_done == stored.size

        wait_until(checking, 120, "the box to verify the downloaded model", every=0.02)
        box.kill()
        first = _consistent_after_restart(box, fleet, device)
        assert first in (V1, V2)
        slot = settled(fleet, device, reply.assignments[0].assignment_id)
        assert slot.state == "running" and slot.report.running.version == V2

        # 2. Killed right after the new choice was persisted (back to v1 first).
        again = rollback(fleet, [device])
        with_v1 = settled(fleet, device, again.assignments[0].assignment_id)
        assert with_v1.report.running.version == V1
        reply = assign(fleet, [device], "nanodet-g", V2)
        wait_until(
            lambda: box.state()["detector"]["running"]["version"] == V2,
            120,
            "the box to persist its new choice",
            every=0.005,
        )
        box.kill()
        assert _consistent_after_restart(box, fleet, device) == V2
        assert box.health()["inference"]["alive"]
    finally:
        box.stop()
    assert set(runs(versions_in_order(fleet))) <= {V1, V2}

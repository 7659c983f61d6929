"""A pushed, signed model reaches a running box, is swapped in between frames, and rolled back.

Real `oko-fleet serve` and `oko-agent run` processes over TLS on loopback, a real camera
clip, the shipped nanodet-g INT8 running and its FP32 file pushed as version 2.0.0-fp32.
Events are stamped with the detector that made them: in sequence order they read v1...v1
then v2...v2 then (after the rollback) v1 again, never mixed.
"""

from __future__ import annotations

from pathlib import Path

from tests.models.boxes import BoxProcess, enrolled_box
from tests.models.conftest import V2
from tests.models.helpers import device_id, rollback, runs, settled, versions_in_order
from tests.support.fleet import FleetHandle
from tests.support.model_artifacts import assign, push, status
from tests.support.net import wait_until

V1 = "1.0.0"


def test_assigned_model_is_swapped_in_live_and_rolled_back_without_a_download(
    fleet: FleetHandle, fp32_v2: Path, long_clip: Path, tmp_path: Path
) -> None:
    stored = push(fleet, fp32_v2, "nanodet-g", V2)
    assert stored.size == fp32_v2.stat().st_size and stored.frames == 3
    box = BoxProcess(enrolled_box(fleet, tmp_path / "box", long_clip)).start()
    device = device_id(tmp_path / "box")
    try:
        first = wait_until(lambda: status(fleet, device).report.running.name, 60, "a report")
        assert first == "nanodet-g"
        assert status(fleet, device).report.running.origin == "shipped"
        wait_until(lambda: V1 in versions_in_order(fleet), 120, "events from the shipped model")

        reply = assign(fleet, [device], "nanodet-g", V2)
        assert reply.assignments[0].delivered
        slot = settled(fleet, device, reply.assignments[0].assignment_id)
        assert slot.state == "running", slot.report.error
        report = slot.report
        assert (report.running.version, report.running.origin) == (V2, "fleet")
        assert report.running.sha256 == stored.sha256
        assert report.previous.version == V1 and report.previous.origin == "shipped"
        assert report.warmup.ok and report.warmup.frames == 3 and report.warmup.matched > 0
        wait_until(lambda: V2 in versions_in_order(fleet), 120, "events from the new model")
        assert runs(versions_in_order(fleet)) == [V1, V2]
        assert box.metric("oko_agent_model_swaps_total") == 1
        downloaded = box.metric("oko_agent_model_download_bytes_total")
        assert downloaded >= stored.size
        assert box.state()["detector"]["running"]["version"] == V2

        back = rollback(fleet, [device]).assignments[0]
        assert (back.name, back.version) == ("nanodet-g", V1)
        slot = settled(fleet, device, back.assignment_id)
        assert slot.state == "rolled_back", slot.report.error
        assert (slot.report.running.version, slot.report.running.origin) == (V1, "shipped")
        assert slot.report.previous.version == V2  # kept: rolling forward needs no download
        wait_until(lambda: runs(versions_in_order(fleet)) == [V1, V2, V1], 120, "v1 events again")
        assert box.metric("oko_agent_model_download_bytes_total") == downloaded
        assert box.health()["status"] in ("ok", "degraded")
        assert box.health()["inference"]["alive"]
    finally:
        box.stop()
    events = [e.event for e in fleet.events(("gate",))]
    sha = {V1: slot.report.running.sha256, V2: stored.sha256}
    assert all(e.models[0].sha256 == sha[e.models[0].version] for e in events)

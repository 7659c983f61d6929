"""An enrolled `EdgeBox` delivers a real camera's events to a real fleet over mTLS.

The whole chain on real footage: reader -> gate -> shared detector -> tracker + rules ->
minter -> spool -> uplink -> fleet (ingest, durable commit, ack) -> spool emptied.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agent.config.agent import AgentConfig, BoxConfig
from agent.config.camera import CameraSpec
from agent.detect.object_detector import ObjectDetector
from agent.identity import AgentStore
from agent.pipeline.box import EdgeBox
from agent.spool import DROP_DISK_FULL, Spool
from agent.uplink.enroll import enroll
from tests.pipeline.conftest import excerpt
from tests.support.fleet import FleetHandle
from tests.support.net import free_port, wait_until
from tests.uplink.conftest import enrolled, fleet  # noqa: F401  (pytest fixtures)
from tests.uplink.test_uplink_disk_full import fill, small_disk  # noqa: F401  (fixture)

LINE = {"id": "road", "points": [[330, 400], [330, 190]]}


def test_enrolled_box_sends_camera_events_to_the_fleet(
    detector: ObjectDetector,
    fleet: FleetHandle,  # noqa: F811
    enrolled: Callable[..., AgentConfig],  # noqa: F811
    tmp_path: Path,
) -> None:
    agent = enrolled()
    clip = excerpt(tmp_path / "cam.avi", 250, 50)
    camera = CameraSpec(
        id="gate",
        source=str(clip),
        realtime=False,
        lines=[LINE],
        zones=[{"id": "all", "polygon": [[0, 0], [768, 0], [768, 576], [0, 576]]}],
    )
    box = EdgeBox(BoxConfig(agent, (camera,), has_fleet=True), detector).start()
    try:
        assert box.uplink_enabled and box.jsonl is None
        wait_until(lambda: box.status()[0].frames == 25, 120, "the clip to be analysed")
        minted = box.cameras["gate"].stage.minter.next_sequence - 1
        assert minted > 0
        stored = wait_until(
            lambda: len(fleet.events(("gate",))) >= minted and fleet.events(("gate",)),
            30,
            "the fleet to store every event",
        )
        wait_until(lambda: box.parts.spool.depth() == 0, 30, "acks to empty the spool")
        identity = box.parts.store.identity()
        assert identity is not None
        code, health = box.health()
        assert code == 200 and health["uplink"]["state"] == "connected"
        assert health["uplink"]["enabled"] and health["uplink"]["connected"]
    finally:
        box.stop()
    events = [envelope.event for envelope in stored]
    assert sorted(e.sequence for e in events) == list(range(1, minted + 1))
    assert all(e.device_id == identity.device_id and e.camera_id == "gate" for e in events)
    kinds = {e.WhichOneof("body") for e in events}
    assert {"line_crossing", "zone"} <= kinds


def test_health_says_degraded_with_the_reason_while_the_fleet_is_unreachable(
    detector: ObjectDetector,
    enrolled: Callable[..., AgentConfig],  # noqa: F811
) -> None:
    """200 + "degraded": the box still records into the spool; restarting it would not help."""
    agent = enrolled(fleet={"agent": f"127.0.0.1:{free_port()}", "reconnect_min_s": 0.1})
    box = EdgeBox(BoxConfig(agent, (), has_fleet=True), detector).start()
    try:
        wait_until(lambda: box.parts.uplink.last_error, 30, "a failed connection attempt")
        code, health = box.health()
    finally:
        box.stop()
    assert code == 200 and health["status"] == "degraded"
    uplink = health["uplink"]
    assert uplink["enabled"] and not uplink["connected"] and uplink["state"] == "disconnected"
    assert "UNAVAILABLE" in uplink["reason"], uplink
    assert any(p.startswith("uplink disconnected: ") for p in health["problems"])


def test_a_full_disk_costs_events_never_the_cameras_or_the_uplink(
    detector: ObjectDetector,
    fleet: FleetHandle,  # noqa: F811
    small_disk: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The whole box on a real full tmpfs: cameras run on, losses are counted and shown."""
    data_dir = small_disk / "agent"
    store = AgentStore(data_dir)
    enroll(store, fleet.api, fleet.enrollment_token(), device_name="full-box")
    store.close()
    agent = AgentConfig.model_validate(
        {"data_dir": data_dir, "metrics": {"port": 0}, "fleet": {"reconnect_min_s": 0.1}}
    )
    camera = CameraSpec(
        id="gate",
        source=str(excerpt(tmp_path / "cam.avi", 250, 50)),
        realtime=False,
        lines=[LINE],
        zones=[{"id": "all", "polygon": [[0, 0], [768, 0], [768, 576], [0, 576]]}],
    )
    box = EdgeBox(BoxConfig(agent, (camera,), has_fleet=True), detector)
    box.parts.spool.next_batch_id()  # as a box that ran before: its batch-id block reserved
    filler = fill(small_disk)
    box.start()
    try:
        wait_until(lambda: box.status()[0].frames == 25, 120, "the clip to be analysed")
        code, health = box.health()
        lost = box.parts.spool.drops_by_reason()
        filler.unlink()
        assert not box.failed.is_set() and box._uplink_thread is not None
        assert box._uplink_thread.is_alive()
    finally:
        box.stop()
    minted = box.cameras["gate"].stage.minter.next_sequence - 1
    assert minted > 0 and box.events_lost == minted
    assert code == 200 and health["status"] == "degraded"
    assert any(p.startswith("spool not writable: ") for p in health["problems"]), health
    assert health["spool"]["events_lost"] > 0
    assert sum(d.events for (_, reason), d in lost.items() if reason == DROP_DISK_FULL) > 0
    with Spool(agent.spool_path()) as spool:  # space returned before the stop: all recorded
        assert spool.drops_by_reason()[("gate", DROP_DISK_FULL)].events == minted

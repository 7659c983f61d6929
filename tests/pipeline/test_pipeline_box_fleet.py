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
from agent.pipeline.box import EdgeBox
from tests.pipeline.conftest import excerpt
from tests.support.fleet import FleetHandle
from tests.support.net import wait_until
from tests.uplink.conftest import enrolled, fleet  # noqa: F401  (pytest fixtures)

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
        assert code == 200 and health["uplink"] == {"enabled": True, "connected": True}
    finally:
        box.stop()
    events = [envelope.event for envelope in stored]
    assert sorted(e.sequence for e in events) == list(range(1, minted + 1))
    assert all(e.device_id == identity.device_id and e.camera_id == "gate" for e in events)
    kinds = {e.WhichOneof("body") for e in events}
    assert {"line_crossing", "zone"} <= kinds

"""`EdgeBox` in-process: a failing spool costs events, never the cameras."""

from __future__ import annotations

import time
from pathlib import Path

from agent.config.agent import AgentConfig, BoxConfig, load_box_config
from agent.config.camera import CameraSpec
from agent.detect.object_detector import ObjectDetector
from agent.pipeline.box import EdgeBox
from agent.pipeline.sinks import read_jsonl
from tests.pipeline.conftest import excerpt

LINE = {"id": "road", "points": [[330, 400], [330, 190]]}
ZONE = {"id": "all", "polygon": [[0, 0], [768, 0], [768, 576], [0, 576]]}


def wait_for(condition: object, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_spool_that_fails_is_reported_and_the_cameras_keep_going(
    detector: ObjectDetector, tmp_path: Path
) -> None:
    agent = AgentConfig(data_dir=tmp_path / "data", metrics={"port": 0})
    camera = CameraSpec(
        id="cam",
        source=str(excerpt(tmp_path / "c.avi", 250, 50)),
        realtime=False,
        lines=[LINE],
        zones=[ZONE],
    )
    box = EdgeBox(BoxConfig(agent, (camera,), has_fleet=False), detector)
    box.parts.spool.close()  # every append from now on fails inside SQLite
    box.start()
    try:
        wait_for(lambda: box.status()[0].frames == 25)
        code, health = box.health()
    finally:
        box.stop()
    minted = box.cameras["cam"].stage.minter.next_sequence - 1
    assert minted > 0 and box.events_lost == minted
    assert code == 200 and health["status"] == "degraded"
    # health was read while the camera ran; stopping flushes once more (more failed writes)
    assert 0 < health["spool"]["write_errors"] <= box.spool_errors
    assert "closed database" in health["spool"]["last_error"]
    assert health["cameras"]["cam"]["error"] is None
    # The JSONL sink still has every event, in sequence.
    assert [e.sequence for e in read_jsonl(tmp_path / "data" / "events.jsonl")] == list(
        range(1, minted + 1)
    )


def test_a_box_with_no_cameras_says_so_in_its_health(
    detector: ObjectDetector, tmp_path: Path
) -> None:
    """An empty agent.yaml is what install.sh writes before cameras are added: the box
    runs (the fleet may push cameras), but never reports "ok" while it records nothing."""
    path = tmp_path / "agent.yaml"
    path.write_text("")
    config = load_box_config(path)
    box = EdgeBox(
        BoxConfig(config.agent.model_copy(update={"data_dir": tmp_path / "d"}), (), False),
        detector,
    ).start()
    try:
        code, health = box.health()
    finally:
        box.stop()
    assert code == 200 and health["status"] == "degraded"
    assert "no cameras configured" in health["problems"]
    assert health["uplink"]["state"] == "off"

"""A running `EdgeBox` applies camera changes pushed by a real fleet, without a restart.

Real fleet on loopback TLS, a real enrolled box on excerpts of vtest.avi: a pushed camera
appears and its events reach the fleet; a typo in a rule's class is refused by the fleet,
naming the field (the box reported its detector); after a restart the box runs the fleet
document (not its local file) and reports it; a pushed removal stops that camera alone.
The camera nobody touched keeps its stage object, and every camera's sequence has neither
gap nor repeat at the fleet, so nothing minted or spooled was lost or duplicated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from agent.config.agent import AgentConfig, BoxConfig
from agent.config.camera import CameraSpec
from agent.detect.object_detector import ObjectDetector
from agent.pipeline.box import EdgeBox
from agent.uplink.desired import stored_fleet_config
from proto.oko.v1 import admin_pb2, agent_pb2
from tests.pipeline.conftest import excerpt
from tests.support.fleet import FleetHandle
from tests.support.net import wait_until
from tests.uplink.conftest import enrolled, fleet  # noqa: F401  (pytest fixtures)

EVERYWHERE = {"id": "all", "polygon": [[0, 0], [768, 0], [768, 576], [0, 576]]}


def _camera(camera_id: str, clip: Path, *, realtime: bool) -> dict[str, Any]:
    return {
        "id": camera_id,
        "source": str(clip),
        "realtime": realtime,
        "detect_fps": 5,
        "zones": [EVERYWHERE],
    }


def _push(server: FleetHandle, device_id: str, cameras: list[dict[str, Any]]) -> int:
    request = admin_pb2.SetConfigRequest(
        device_id=device_id, document=yaml.safe_dump({"cameras": cameras}, sort_keys=False)
    )
    return int(server.admin("SetConfig", request).rendered.version)


def _reported(server: FleetHandle, device_id: str) -> admin_pb2.ConfigView:
    return server.admin("GetConfig", admin_pb2.GetConfigRequest(device_id=device_id))


def _contiguous(server: FleetHandle, camera_id: str) -> list[int]:
    sequences = sorted(e.event.sequence for e in server.events((camera_id,)))
    assert sequences == list(range(1, len(sequences) + 1)), (camera_id, sequences)
    return sequences


def test_pushed_cameras_are_applied_live_and_survive_a_restart(
    detector: ObjectDetector,
    fleet: FleetHandle,  # noqa: F811
    enrolled: Callable[..., AgentConfig],  # noqa: F811
    tmp_path: Path,
) -> None:
    agent = enrolled()
    steady = _camera("steady", excerpt(tmp_path / "steady.avi", 0, 300), realtime=True)
    added = _camera("added", excerpt(tmp_path / "added.avi", 250, 50), realtime=False)
    local = BoxConfig(agent, (CameraSpec.model_validate(steady),), has_fleet=True)

    box = EdgeBox(local, detector).start()
    try:
        identity = box.parts.store.identity()
        assert identity is not None
        device = identity.device_id
        wait_until(box.parts.uplink.connected.is_set, 30, "the box to connect")
        kept = box.cameras["steady"]
        version = _push(fleet, device, [steady, added])
        wait_until(lambda: "added" in box.cameras, 30, "the pushed camera to start")
        wait_until(lambda: fleet.events(("added",)), 120, "the new camera's events to arrive")
        assert box.cameras["steady"] is kept and box.status()[0].state == "streaming"
        view = wait_until(
            lambda: (v := _reported(fleet, device)).reported_version == version and v,
            30,
            "the box to report the new version",
        )
        assert not view.drift and "added" in view.reported_document
        # The box reported its detector: the fleet now refuses what the box would refuse.
        typo = {**added, "lines": [{"id": "d", "points": [[0, 0], [9, 9]], "classes": ["persn"]}]}
        with pytest.raises(grpc.RpcError) as refused:
            _push(fleet, device, [steady, typo])
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "cameras[1].lines[0].classes[0]: 'persn' is not a label of nanodet-g" in (
            refused.value.details() or ""
        )
        wait_until(lambda: box.status()[1].frames >= 10, 120, "the new camera to be analysed")
    finally:
        box.stop()
    added_before = len(_contiguous(fleet, "added"))
    assert added_before > 0
    stored = stored_fleet_config(agent.data_dir)  # what `oko-agent run` picks its detector for
    assert stored is not None and [c.id for c in stored.cameras] == ["steady", "added"]

    # Restart with the same local file (one camera): the box runs the fleet's two.
    box = EdgeBox(local, detector).start()
    try:
        assert list(box.cameras) == ["steady", "added"]
        assert box.cameras["added"].stage.minter.next_sequence == added_before + 1
        wait_until(box.parts.uplink.connected.is_set, 30, "the box to reconnect")
        kept = box.cameras["steady"]
        frames = wait_until(lambda: kept.stage.stats.frames, 60, "the kept camera to run")
        version = _push(fleet, device, [steady])
        wait_until(lambda: "added" not in box.cameras, 30, "the removed camera to stop")
        assert box.cameras["steady"] is kept
        wait_until(lambda: kept.stage.stats.frames > frames, 60, "the kept camera to go on")
        wait_until(lambda: _reported(fleet, device).reported_version == version, 30, "the report")
        wait_until(lambda: box.parts.spool.depth() == 0, 60, "acks to empty the spool")
    finally:
        box.stop()
    assert len(_contiguous(fleet, "added")) >= added_before
    assert _contiguous(fleet, "steady"), "the untouched camera sent events"


def test_a_document_naming_an_unknown_class_is_refused_by_the_box(
    detector: ObjectDetector, tmp_path: Path
) -> None:
    clip = excerpt(tmp_path / "cam.avi", 250, 10)
    agent = AgentConfig.model_validate({"data_dir": tmp_path / "box", "metrics": {"port": 0}})
    local = BoxConfig(agent, (CameraSpec.model_validate(_camera("a", clip, realtime=False)),), True)
    box = EdgeBox(local, detector)
    try:
        before = box.cameras["a"]
        bad = {
            "cameras": [
                {
                    "id": "b",
                    "source": str(clip),
                    "lines": [
                        {"id": "door", "points": [[0, 0], [10, 10]], "classes": ["person", "persn"]}
                    ],
                }
            ]
        }
        document = yaml.safe_dump(bad)
        outcome = box.parts.applier.apply(
            agent_pb2.DesiredState(
                version=3,
                document=document,
                sha256=hashlib.sha256(document.encode()).hexdigest(),
            )
        )
        assert not outcome.report.ok
        assert "cameras[0].lines[0].classes[1]: 'persn' is not a label of nanodet-g" in (
            outcome.report.error
        )
        assert box.parts.applier.applied_version() == 0 and box.cameras == {"a": before}
    finally:
        box.stop()


def test_a_changed_camera_is_rebuilt_alone_and_continues_its_sequence(
    detector: ObjectDetector, tmp_path: Path
) -> None:
    clip = excerpt(tmp_path / "cam.avi", 250, 30)
    agent = AgentConfig.model_validate({"data_dir": tmp_path / "box", "metrics": {"port": 0}})
    one, two = (_camera(i, clip, realtime=False) for i in ("one", "two"))
    specs = tuple(CameraSpec.model_validate(c) for c in (one, two))
    box = EdgeBox(BoxConfig(agent, specs, has_fleet=False), detector).start()
    try:
        wait_until(lambda: all(s.frames >= 15 for s in box.status()), 120, "both clips")
        before = dict(box.cameras)
        minted = before["two"].stage.minter.next_sequence
        assert minted > 1, "the clip's people made zone events"
        changed = CameraSpec.model_validate({**two, "detect_fps": 2})
        changes = box.apply_cameras([specs[0], changed])
        assert (changes.added, changes.removed, changes.changed) == ((), (), ("two",))
        assert box.cameras["one"] is before["one"] and box.cameras["two"] is not before["two"]
        assert box.cameras["two"].spec.detect_fps == 2
        # Flushed pending analytics may have minted more; the new minter continues after all.
        assert box.cameras["two"].stage.minter.next_sequence >= minted
        assert box.sequences.next_for("two") == box.cameras["two"].stage.minter.next_sequence
        assert not box.apply_cameras([specs[0], changed])  # nothing differs: nothing rebuilt
    finally:
        box.stop()

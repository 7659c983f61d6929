"""Which cameras a pushed document changes, and what a box runs: local file vs fleet."""

from __future__ import annotations

from pathlib import Path

from agent.config.agent import AgentConfig, BoxConfig
from agent.config.camera import CameraSpec
from agent.pipeline.reconfigure import diff_cameras, merge


def _cam(camera_id: str, **fields: object) -> CameraSpec:
    return CameraSpec.model_validate({"id": camera_id, "source": f"{camera_id}.avi", **fields})


def test_diff_names_added_removed_and_changed_cameras_only() -> None:
    old = [_cam("a"), _cam("b"), _cam("c")]
    new = [_cam("a"), _cam("c", detect_fps=2), _cam("d"), _cam("e", enabled=False)]
    changes = diff_cameras(old, new)
    assert (changes.added, changes.removed, changes.changed) == (("d",), ("b",), ("c",))
    assert not diff_cameras(old, list(old))
    assert diff_cameras(old, [_cam("a", enabled=False), *old[1:]]).removed == ("a",)


def test_local_file_keeps_bootstrap_and_fleet_gets_cameras_and_tuning(tmp_path: Path) -> None:
    local_agent = AgentConfig.model_validate(
        {
            "data_dir": tmp_path,
            "fleet": {"api": "fleet.local:7440", "agent": "fleet.local:7443"},
            "spool": {"path": str(tmp_path / "s.db"), "max_events": 1000},
            "metrics": {"port": 9999},
            "cameras": [{"id": "local", "source": "l.avi"}],
        }
    )
    local = BoxConfig(local_agent, local_agent.cameras, has_fleet=True)
    pushed = AgentConfig.model_validate(
        {
            "data_dir": "/elsewhere",
            "fleet": {"api": "evil:1", "batch_max_events": 50},
            "spool": {"path": "/tmp/x.db", "max_events": 5000},
            "metrics": {"port": 1},
            "cameras": [{"id": "pushed", "source": "p.avi"}],
        }
    )
    running = merge(local, pushed)
    assert [c.id for c in running.cameras] == [c.id for c in running.agent.cameras] == ["pushed"]
    assert running.agent.data_dir == tmp_path and running.agent.metrics.port == 9999
    assert running.agent.fleet.api == "fleet.local:7440"
    assert running.agent.fleet.agent == "fleet.local:7443"
    assert running.agent.fleet.batch_max_events == 50
    assert running.agent.spool.path == tmp_path / "s.db" and running.agent.spool.max_events == 5000
    # A fleet document that names no cameras leaves the local file's running.
    assert [c.id for c in merge(local, AgentConfig()).cameras] == ["local"]
    assert merge(local, None) is local

"""Desired state: validate first, store atomically, report what runs, keep the last good."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from agent.config.agent import AgentConfig, parse_endpoint
from agent.errors import ConfigError
from agent.identity import AgentStore
from agent.uplink.desired import DesiredStateApplier, stored_fleet_config
from proto.oko.v1 import agent_pb2

GOOD = """
device: {name: pole-17}
fleet: {compression: gzip, batch_max_events: 200}
spool: {max_bytes: 10485760}
cameras:
  - {id: cam-a, source: rtsp://10.0.0.5/stream}
"""


def _desired(version: int, document: str, sha: str | None = None) -> agent_pb2.DesiredState:
    digest = hashlib.sha256(document.encode()).hexdigest() if sha is None else sha
    return agent_pb2.DesiredState(version=version, document=document, format="yaml", sha256=digest)


@pytest.fixture
def applier(tmp_path: Path) -> DesiredStateApplier:
    return DesiredStateApplier(AgentStore(tmp_path))


def test_valid_document_is_stored_reported_and_announced(
    applier: DesiredStateApplier, tmp_path: Path
) -> None:
    seen: list[tuple[int, AgentConfig]] = []
    applier.add_listener(lambda cfg, version: seen.append((version, cfg)))
    outcome = applier.apply(_desired(5, GOOD))
    assert outcome.report.ok and outcome.report.applied_version == 5
    assert outcome.report.attempted_version == 5 and outcome.report.document == GOOD
    assert outcome.config is not None and outcome.config.fleet.batch_max_events == 200
    assert [v for v, _ in seen] == [5]
    # Survives a restart: a fresh store over the same directory runs version 5.
    again = DesiredStateApplier(AgentStore(tmp_path))
    assert again.applied_version() == 5
    current = again.current()
    assert current is not None and current.device.name == "pole-17"


def test_resent_current_version_is_confirmed_without_reapplying(
    applier: DesiredStateApplier,
) -> None:
    calls: list[int] = []
    applier.add_listener(lambda cfg, version: calls.append(version))
    applier.apply(_desired(2, GOOD))
    outcome = applier.apply(_desired(2, GOOD))
    assert outcome.report.ok and outcome.config is None and calls == [2]


@pytest.mark.parametrize(
    ("document", "sha", "message"),
    [
        ("fleet: {max_in_flight: 0}\n", None, "fleet.max_in_flight"),
        ("spool: {max_byts: 5}\n", None, "spool.max_byts"),
        ("fleet: [unclosed\n", None, "not valid YAML"),
        ("- just\n- a list\n", None, "top level must be a mapping"),
        ("cameras: []\n", "0" * 64, "sha256 does not match"),
    ],
)
def test_bad_document_is_refused_named_and_last_good_kept(
    applier: DesiredStateApplier, document: str, sha: str | None, message: str
) -> None:
    applier.apply(_desired(1, GOOD))
    outcome = applier.apply(_desired(2, document, sha))
    report = outcome.report
    assert not report.ok and message in report.error and "desired state v2" in report.error
    assert (report.applied_version, report.attempted_version) == (1, 2)
    assert report.document == GOOD and applier.applied_version() == 1
    assert outcome.config is None


def test_checker_can_veto_and_nothing_is_stored(applier: DesiredStateApplier) -> None:
    def no_cameras_named_x(cfg: AgentConfig) -> None:
        for i, cam in enumerate(cfg.cameras):
            if cam.id == "x":
                raise ConfigError(f"cameras[{i}].id: 'x' is reserved")

    applier.add_checker(no_cameras_named_x)
    outcome = applier.apply(_desired(7, "cameras: [{id: x, source: a.mp4}]\n"))
    assert not outcome.report.ok and "cameras[0].id" in outcome.report.error
    assert applier.applied_version() == 0 and outcome.report.document == ""


def test_a_failing_listener_does_not_undo_the_apply(applier: DesiredStateApplier) -> None:
    def broken(cfg: AgentConfig, version: int) -> None:
        raise RuntimeError("listener bug")

    applier.add_listener(broken)
    assert applier.apply(_desired(3, GOOD)).report.ok
    assert applier.applied_version() == 3


def test_endpoint_parsing() -> None:
    assert parse_endpoint("fleet.example.org:7440") == ("fleet.example.org", 7440)
    assert parse_endpoint("[::1]:7443") == ("[::1]", 7443)
    assert parse_endpoint("10.1.2.3", default_port=7440) == ("10.1.2.3", 7440)
    for bad in ("fleet", "fleet:0", "fleet:http", "bad_host!:80", ":80"):
        with pytest.raises(ValueError, match=r"port|host"):
            parse_endpoint(bad)


def test_stored_fleet_config_is_read_only_for_an_enrolled_box(tmp_path: Path) -> None:
    assert stored_fleet_config(tmp_path / "fresh") is None
    assert not (tmp_path / "fresh").exists()  # looking created nothing
    store = AgentStore(tmp_path)
    DesiredStateApplier(store).apply(_desired(4, GOOD))
    store.close()
    # A document stored without an identity (never enrolled) is not run.
    assert stored_fleet_config(tmp_path) is None

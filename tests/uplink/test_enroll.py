"""Enrollment against the real fleet: CLI, pinned trust on first use, one-time tokens."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agent.errors import EnrollError
from agent.identity import AgentStore
from agent.uplink.enroll import enroll, parse_token
from fleet.ca import CertificateAuthority
from proto.oko.v1 import admin_pb2
from tests.support.fleet import FleetHandle
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def _with_pin(token: str, pin: str) -> str:
    return token.rsplit(".", 1)[0] + "." + pin


def test_cli_enrolls_with_nothing_but_the_token(fleet: FleetHandle, tmp_path: Path) -> None:
    data = tmp_path / "box"
    result = _cli(
        "enroll",
        "--fleet",
        fleet.api,
        "--token",
        fleet.enrollment_token(site="north"),
        "--data-dir",
        str(data),
        "--name",
        "pole-17",
        "--label",
        "district=7",
    )
    assert result.returncode == 0, result.stderr
    assert "enrolled as dev-" in result.stdout
    identity = AgentStore(data).identity()
    assert identity is not None and identity.site == "north"
    assert identity.agent_endpoint == f"127.0.0.1:{fleet.agent_port}"
    for name in ("device.key", "device.crt", "fleet-ca.pem"):
        assert stat.S_IMODE((data / "identity" / name).stat().st_mode) == 0o600
    assert (data / "identity" / "fleet-ca.pem").read_bytes() == fleet.ca_pem
    device = fleet.device(identity.device_id)
    assert device.name == "pole-17" and dict(device.labels) == {"district": "7"}
    assert b"PRIVATE KEY" not in (data / "agent.json").read_bytes()


def test_token_works_once(fleet: FleetHandle, tmp_path: Path) -> None:
    token = fleet.enrollment_token()
    enroll(AgentStore(tmp_path / "a"), fleet.api, token, device_name="a")
    with pytest.raises(EnrollError, match="token unknown, expired or already used"):
        enroll(AgentStore(tmp_path / "b"), fleet.api, token, device_name="b")
    assert AgentStore(tmp_path / "b").identity() is None


def test_wrong_pin_is_refused_before_the_token_is_spent(fleet: FleetHandle, tmp_path: Path) -> None:
    token = fleet.enrollment_token()
    with pytest.raises(EnrollError, match="did not present a CA matching the token's pin"):
        enroll(AgentStore(tmp_path / "a"), fleet.api, _with_pin(token, "0" * 32))
    assert not (tmp_path / "a" / "identity" / "device.key").exists()
    enroll(AgentStore(tmp_path / "b"), fleet.api, token)  # still unused
    tokens = fleet.admin("ListTokens", admin_pb2.ListTokensRequest()).tokens
    assert sum(t.used for t in tokens if t.kind == "enrollment") == 1


def test_ca_file_must_match_the_pin(fleet: FleetHandle, tmp_path: Path) -> None:
    good = tmp_path / "fleet-ca.pem"
    good.write_bytes(fleet.ca_pem)
    other = CertificateAuthority.load_or_create(tmp_path / "other-ca")
    bad = tmp_path / "other-ca.pem"
    bad.write_text(other.pem)
    token = fleet.enrollment_token()
    with pytest.raises(EnrollError, match="does not match the token's pin"):
        enroll(AgentStore(tmp_path / "a"), fleet.api, token, ca_file=bad)
    identity = enroll(AgentStore(tmp_path / "b"), fleet.api, token, ca_file=good)
    assert identity.device_id.startswith("dev-")


def test_enrolled_box_needs_force_to_enroll_again(fleet: FleetHandle, tmp_path: Path) -> None:
    store = AgentStore(tmp_path / "a")
    first = enroll(store, fleet.api, fleet.enrollment_token())
    with pytest.raises(EnrollError, match="already enrolled as " + first.device_id):
        enroll(store, fleet.api, fleet.enrollment_token())
    second = enroll(store, fleet.api, fleet.enrollment_token(), force=True)
    assert second.device_id != first.device_id
    assert store.identity() == second


def test_cli_failures_are_one_clear_line(fleet: FleetHandle, tmp_path: Path) -> None:
    token = fleet.enrollment_token()
    dead = f"127.0.0.1:{free_port()}"
    result = _cli("enroll", "--fleet", dead, "--token", token, "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "enroll failed" in result.stderr and "unreachable" in result.stderr
    assert "Traceback" not in result.stderr
    result = _cli("enroll", "--fleet", fleet.api, "--token", "junk", "--data-dir", str(tmp_path))
    assert result.returncode == 2 and "oko1.<id>.<secret>.<ca_pin>" in result.stderr
    result = _cli("enroll", "--fleet", "bad host:1", "--token", token, "--data-dir", str(tmp_path))
    assert result.returncode == 2 and "--fleet: " in result.stderr


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("oko1.abc.def", "expected oko1"),
        ("api1.abc.def.0123456789abcdef0123456789abcdef", "expected oko1"),
        ("oko1..def.0123456789abcdef0123456789abcdef", "empty id or secret"),
        ("oko1.abc.def.xyz", "32 hex digits"),
    ],
)
def test_malformed_tokens_are_named(token: str, message: str) -> None:
    with pytest.raises(EnrollError, match=message):
        parse_token(token)

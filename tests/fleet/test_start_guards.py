"""Starting the real `oko-fleet serve`: a busy port is refused with one clear line and
mints nothing; the running fleet is untouched; a lost admin token can be reset
(issue 9, defect 12)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from proto.oko.v1 import admin_pb2, admin_pb2_grpc
from proto.transport import CLIENT_OPTIONS, bearer_metadata
from tests.support.fleet import ROOT, FleetCli
from tests.support.net import free_port

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def first(tmp_path: Path) -> Iterator[FleetCli]:
    server = FleetCli(tmp_path / "first", free_port(), free_port())
    server.start()
    yield server
    server.stop()


def _fleet_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OKO_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "fleet.cli", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


def _status(fleet: FleetCli, token: str) -> admin_pb2.ServerStatus:
    creds = grpc.ssl_channel_credentials(root_certificates=fleet.ca)
    with grpc.secure_channel(fleet.api, creds, options=CLIENT_OPTIONS) as channel:
        return admin_pb2_grpc.AdminServiceStub(channel).GetStatus(
            admin_pb2.GetStatusRequest(), metadata=bearer_metadata(token), timeout=10
        )


def _api_tokens(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "fleet.db") as db:
        return int(db.execute("SELECT count(*) FROM api_tokens").fetchone()[0])


def test_second_fleet_on_a_busy_port_refuses_and_mints_nothing(
    first: FleetCli, tmp_path: Path
) -> None:
    second_dir = tmp_path / "second"
    busy_api = f"127.0.0.1:{first.api.rpartition(':')[2]}"
    busy_agent = f"127.0.0.1:{first.agent_port}"
    free = f"127.0.0.1:{free_port()}"
    for listen, agent_listen in ((busy_api, free), (free, busy_agent)):
        result = _fleet_cli(
            "serve",
            "--data-dir",
            str(second_dir),
            "--listen",
            listen,
            "--agent-listen",
            agent_listen,
            "--metrics-listen",
            "",
        )
        assert result.returncode == 1
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("error: cannot listen on ") and "already in use" in last
        assert "Traceback" not in result.stderr
        assert "serving" not in result.stdout and "okoa." not in result.stdout
        assert _api_tokens(second_dir) == 0  # nothing minted that nobody saw

    # The first fleet still answers, with its own certificate (its CA verifies it).
    assert _status(first, first.admin_token).version

    # The second data dir starts fine elsewhere and only then shows its first token.
    second = FleetCli(second_dir, free_port(), free_port())
    second.start()
    try:
        assert second.admin_token.startswith("okoa.")
        assert _status(second, second.admin_token).version
    finally:
        second.stop()


def test_admin_token_reset_replaces_the_bootstrap_token_while_serving(first: FleetCli) -> None:
    result = _fleet_cli("admin-token", "reset", "--data-dir", str(first.data_dir))
    assert result.returncode == 0, result.stderr
    new = result.stdout.split()[-1]
    assert new.startswith("okoa.") and new != first.admin_token
    assert _status(first, new).version
    with pytest.raises(grpc.RpcError) as old:
        _status(first, first.admin_token)
    assert old.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _api_tokens(first.data_dir) == 1


def test_admin_token_reset_of_a_missing_fleet_is_one_line(tmp_path: Path) -> None:
    result = _fleet_cli("admin-token", "reset", "--data-dir", str(tmp_path / "nothing"))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: no fleet store at ")
    assert len(result.stderr.strip().splitlines()) == 1

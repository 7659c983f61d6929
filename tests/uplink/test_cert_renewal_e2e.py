"""Certificate renewal end to end: a real `oko-fleet serve`, real agent processes, mTLS.

* A box whose fleet issues 40-second certificates renews by itself (twice) while it keeps
  streaming: every spooled event reaches the fleet exactly once and is acknowledged once
  (no resend), the box ends on its newest certificate, and okoctl shows the time left.
* A box whose certificate expired while it was offline says so, with the way back, and
  keeps spooling; `okoctl device reissue` + `oko-agent enroll --force` beside the running
  agent bring it back under the same device id, with every spooled event delivered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from agent.identity import AgentStore
from agent.uplink.enroll import enroll
from fleet.ctl import app as okoctl
from tests.support.fleet import FleetCli, FleetHandle
from tests.support.net import free_port, wait_until
from tests.uplink.processes import AgentProcess

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[2]
FAST = {"reconnect_min_s": 0.2, "reconnect_max_s": 1.0, "batch_linger_s": 0.05}


class Fleet:
    """`oko-fleet serve --config` whose certificate settings a test can change and restart."""

    def __init__(self, tmp: Path, certificates: dict[str, Any]) -> None:
        self.settings = tmp / "fleet.yaml"
        self.cli = FleetCli(tmp / "fleet", free_port(), free_port())
        self.cli.args += ["--config", str(self.settings)]
        self.configure(certificates)

    def configure(self, certificates: dict[str, Any]) -> None:
        self.settings.write_text(yaml.safe_dump({"certificates": certificates}))

    def handle(self) -> FleetHandle:
        return self.cli.handle()

    def ctl(self, *args: str) -> tuple[int, str, str]:
        env = {
            "OKO_FLEET": self.cli.api,
            "OKO_TOKEN": self.cli.admin_token,
            "OKO_CA_FILE": str(self.cli.ca_file),
            "COLUMNS": "250",
        }
        result = CliRunner().invoke(okoctl, list(args), env=env)
        return result.exit_code, result.stdout, result.stderr

    def device_json(self, device_id: str) -> dict[str, Any]:
        code, out, err = self.ctl("--json", "device", "list")
        assert code == 0, err
        (mine,) = [d for d in json.loads(out) if d["device_id"] == device_id]
        return dict(mine)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Any]]:
    """Everything a test starts, stopped at the end whatever happened."""
    items: list[Any] = []
    yield items
    for item in reversed(items):
        item.stop()


def _box(fleet: Fleet, data: Path, tmp: Path, **uplink: Any) -> tuple[str, AgentProcess]:
    store = AgentStore(data)
    device_id = enroll(store, fleet.cli.api, fleet.handle().enrollment_token()).device_id
    store.close()
    config = {"data_dir": str(data), "metrics": {"port": 0}, "fleet": {**FAST, **uplink}}
    return device_id, AgentProcess(config, tmp / f"{data.name}.yaml")


def test_a_short_lived_certificate_renews_itself_while_events_keep_flowing(
    tmp_path: Path, started: list[Any]
) -> None:
    fleet = Fleet(tmp_path, {"device_days": 40 / 86_400, "renewals_per_hour": 60})
    started.append(fleet.cli.start())
    handle = fleet.handle()
    device_id, agent = _box(fleet, tmp_path / "box", tmp_path, renew_at=0.3, renew_jitter=0.05)
    enrolled_serial = handle.device(device_id).certificate_serial
    started.append(agent)
    agent.start(events=2_000, per_append=10, interval=0.1)  # ~20 s of events at least

    def renewals() -> int:
        return int(handle.device(device_id).certificate_renewals)

    wait_until(lambda: renewals() >= 1, 60, "the first renewal")
    spooled_at_first = agent.spooled()[-1][0]
    wait_until(lambda: renewals() >= 2, 60, "the second renewal")
    wait_until(agent.produced, 120, "the source to finish")
    total = agent.spooled()[-1][0]
    assert total > spooled_at_first  # events kept coming after the first renewal
    wait_until(lambda: agent.metric("oko_agent_spool_depth_events") == 0, 60, "an empty spool")
    stored = handle.events()
    ids = [e.event.event_id for e in stored]
    assert len(ids) == len(set(ids)) == total
    assert {e.event.device_id for e in stored} == {device_id}
    # Each event acknowledged once: batches in flight at a renewal were acked before the
    # reconnect, never resent.
    assert agent.metric("oko_agent_uplink_duplicates_total") == 0
    # The spool empties just before the acked counter moves: wait for the counter.
    wait_until(
        lambda: agent.metric("oko_agent_uplink_events_acked_total") == total,
        30,
        "every event to be counted as acked",
    )
    assert agent.metric("oko_agent_certificate_renewals_total", 'outcome="renewed"') >= 2
    assert agent.metric("oko_agent_certificate_renewals_total", 'outcome="failed"') == 0
    wait_until(
        lambda: fleet.device_json(device_id)["certificate_pending_serial"] == "",
        30,
        "the box to use its newest certificate",
    )
    shown = fleet.device_json(device_id)
    assert shown["certificate_serial"] != enrolled_serial
    assert 0 < shown["certificate_days_left"] <= 40 / 86_400
    code, table, _ = fleet.ctl("device", "list")
    assert code == 0 and "CERT LEFT" in table  # piped: kubectl-style headers
    code, shown_text, _ = fleet.ctl("device", "show", device_id)
    assert code == 0 and f"renewed {shown['certificate_renewals']}x" in shown_text
    handle.close()


def _agent_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "250"},
        check=False,
    )


def test_an_expired_certificate_says_what_to_do_and_reissue_brings_the_box_back(
    tmp_path: Path, started: list[Any]
) -> None:
    fleet = Fleet(tmp_path, {"device_days": 10 / 86_400})
    started.append(fleet.cli.start())
    data = tmp_path / "box"
    device_id, agent = _box(fleet, data, tmp_path)
    identity = AgentStore(data).identity()
    assert identity is not None
    time.sleep(max(0.0, identity.not_after - time.time()) + 1)  # offline past the expiry
    started.append(agent)
    agent.start(events=50, per_append=10, interval=0.0)
    said = wait_until(lambda: agent.logged("expired at"), 30, "the expired-certificate error")
    assert f"device certificate of {device_id} expired at" in said[0]
    assert f"okoctl device reissue {device_id}" in said[0]
    assert "oko-agent enroll --force" in said[0]
    wait_until(agent.produced, 30, "the events to be spooled")
    assert agent.metric("oko_agent_spool_depth_events") == 50  # kept while it cannot send

    fleet.cli.stop()  # the operator also lengthens the lifetime again
    fleet.configure({"device_days": 1.0})
    fleet.cli.start()
    code, table, _ = fleet.ctl("device", "list")
    assert code == 0 and "EXPIRED" in table
    assert fleet.device_json(device_id)["certificate_days_left"] < 0
    code, token, err = fleet.ctl("device", "reissue", device_id, "--ttl", "10m")
    assert code == 0 and token.startswith("oko1.") and "oko-agent enroll --force" in err

    back = _agent_cli(
        *("enroll", "--force", "--fleet", fleet.cli.api, "--token", token.strip()),
        *("--data-dir", str(data)),
    )
    assert back.returncode == 0, back.stderr
    assert f"re-enrolled (reissued: same device id) as {device_id}" in back.stdout
    handle = fleet.handle()
    wait_until(lambda: len(handle.events()) == 50, 60, "the spooled events to arrive")
    assert {e.event.device_id for e in handle.events()} == {device_id}
    wait_until(lambda: agent.metric("oko_agent_spool_depth_events") == 0, 30, "an empty spool")
    assert 0.99 < fleet.device_json(device_id)["certificate_days_left"] <= 1.0
    handle.close()

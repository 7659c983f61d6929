"""Certificate rotation (`oko-agent enroll --force`) delivers what the old identity spooled.

Real fleet on loopback TLS, the real CLI: events are spooled under the first identity while
the fleet is down, the box is enrolled again with `--force` (a new device id), and the
uplink must deliver every one of them under the new identity - none refused, none deleted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config.agent import AgentConfig
from agent.identity import AgentStore
from agent.pipeline.parts import BoxParts
from agent.spool import DROP_REJECTED
from agent.uplink.enroll import enroll
from tests.support.events import make_event
from tests.support.net import free_port, wait_until
from tests.uplink.harness import AgentThread, ThreadFleet

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]
EVENTS = 30


def _config(data_dir: Path) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "data_dir": data_dir,
            "metrics": {"port": 0},
            "fleet": {"reconnect_min_s": 0.1, "reconnect_max_s": 0.5, "batch_linger_s": 0.05},
        }
    )


def test_reenroll_with_force_delivers_events_spooled_under_the_old_identity(
    tmp_path: Path,
) -> None:
    server = ThreadFleet(tmp_path / "fleet", api_port=free_port(), agent_port=free_port())
    handle = server.start()
    data = tmp_path / "box"
    try:
        store = AgentStore(data)
        old = enroll(store, handle.api, handle.enrollment_token(), device_name="pole-1")
        store.close()
        server.stop()  # the fleet is down while the box keeps spooling
        parts = BoxParts.open(_config(data))
        thread = AgentThread(parts.uplink).start()
        try:
            events = [
                make_event(f"cam-{i % 2}", i // 2 + 1, device_id=old.device_id)
                for i in range(EVENTS)
            ]
            parts.spool.append(events)
            assert parts.spool.depth() == EVENTS
        finally:
            thread.stop()
            parts.close()
        handle = server.start(admin_token=handle.admin_token)
        rotated = subprocess.run(
            [
                *(sys.executable, "-m", "agent.cli", "enroll", "--force"),
                *("--fleet", handle.api, "--token", handle.enrollment_token()),
                *("--data-dir", str(data)),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env={**os.environ, "COLUMNS": "200"},
            check=False,
        )
        assert rotated.returncode == 0, rotated.stderr
        new = AgentStore(data).identity()
        assert new is not None and new.device_id != old.device_id
        parts = BoxParts.open(_config(data))
        thread = AgentThread(parts.uplink).start()
        try:
            wait_until(lambda: parts.spool.depth() == 0, 30, "the old identity's spool to drain")
            rejected = {
                k: v for k, v in parts.spool.drops_by_reason().items() if k[1] == DROP_REJECTED
            }
        finally:
            thread.stop()
            parts.close()
        stored = handle.events()
    finally:
        handle.close()
        server.close()
    assert rejected == {}
    assert sorted(e.event.event_id for e in stored) == sorted(e.event_id for e in events)
    assert {e.event.device_id for e in stored} == {new.device_id}

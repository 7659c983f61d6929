"""Fixtures: a real fleet (fleet.server on loopback TLS) and enrolled agent data dirs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.config.agent import AgentConfig
from agent.identity import AgentStore
from agent.uplink.enroll import enroll
from tests.support.fleet import FleetHandle
from tests.uplink.harness import ThreadFleet


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[FleetHandle]:
    server = ThreadFleet(tmp_path / "fleet")
    handle = server.start()
    try:
        yield handle
    finally:
        handle.close()
        server.close()


@pytest.fixture
def enrolled(fleet: FleetHandle, tmp_path: Path) -> Callable[..., AgentConfig]:
    """Enroll a fresh box; returns an AgentConfig for its data dir (overrides as kwargs)."""
    count = 0

    def make(**overrides: object) -> AgentConfig:
        nonlocal count
        count += 1
        data_dir = tmp_path / f"agent-{count}"
        store = AgentStore(data_dir)
        enroll(store, fleet.api, fleet.enrollment_token(), device_name=f"box-{count}")
        store.close()
        fields: dict[str, object] = {
            "data_dir": data_dir,
            "metrics": {"port": 0},
            "fleet": {"reconnect_min_s": 0.1, "reconnect_max_s": 1.0, "batch_linger_s": 0.05},
        }
        fields.update(overrides)
        return AgentConfig.model_validate(fields)

    return make

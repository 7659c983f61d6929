"""Fault tests with real processes and real gRPC over TLS on loopback, bounded in time.

* agent `kill -9` while batches are in flight: nothing committed to the spool is lost and
  the fleet stores every event once (resends are deduplicated by event id);
* fleet unreachable for a (shortened) 20 s: the spool grows, then drains in order;
* spool full while the fleet is away: the drop policy discards routine events first, and
  the drops are counted, exported and reported to the fleet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.config.agent import AgentConfig
from agent.identity import AgentStore
from agent.pipeline.parts import BoxParts
from agent.spool import DROP_FULL, Priority, priority_of
from agent.uplink.enroll import enroll
from proto.oko.v1 import stream_pb2
from tests.support.events import make_event
from tests.support.fleet import FleetCli, FleetHandle
from tests.support.net import free_port, wait_until
from tests.uplink.harness import AgentThread
from tests.uplink.processes import AgentProcess

pytestmark = pytest.mark.timeout(120)  # every wait below is bounded; this bounds the rest

PER_APPEND = 200
FAST_RETRY = {"reconnect_min_s": 0.2, "reconnect_max_s": 1.0, "batch_linger_s": 0.05}


def _agent_config(data_dir: Path, **fleet: Any) -> dict[str, Any]:
    return {
        "data_dir": str(data_dir),
        "metrics": {"port": 0},
        "fleet": {**FAST_RETRY, **fleet},
    }


def _assert_complete_and_ordered(stored: list[stream_pb2.EventEnvelope], total: int) -> None:
    """Every camera's sequence numbers arrive 1..n, each once, in cursor order."""
    ids = [e.event.event_id for e in stored]
    assert len(ids) == len(set(ids)) == total
    cursors = [e.cursor for e in stored]
    assert cursors == sorted(cursors)
    per_camera: dict[str, list[int]] = {}
    for envelope in stored:
        per_camera.setdefault(envelope.event.camera_id, []).append(envelope.event.sequence)
    for camera, sequences in per_camera.items():
        assert sequences == list(range(1, len(sequences) + 1)), camera


def test_kill_9_mid_batch_loses_nothing_and_stores_each_event_once(
    fleet: FleetHandle, enrolled: Callable[..., AgentConfig], tmp_path: Path
) -> None:
    config = enrolled()
    settings = _agent_config(config.data_dir, batch_max_events=40, max_in_flight=4)
    agent = AgentProcess(settings, tmp_path / "agent.yaml")
    try:
        # The source outruns the uplink, so at the kill there are acknowledged events, batches
        # in flight and a backlog, all at once.
        agent.start(events=20_000, per_append=PER_APPEND, interval=0.0)
        wait_until(lambda: len(fleet.events()) >= 500, 30, "the first acknowledged batches")
        agent.kill()
        announced = agent.spooled()
        assert not agent.produced(), "the source finished before the kill; test proves nothing"
        stored_at_kill = len(fleet.events())
        agent = AgentProcess(settings, tmp_path / "agent.yaml")
        agent.start(events=0)
        last_total = announced[-1][0]
        wait_until(lambda: len(fleet.events()) >= last_total, 60, "the backlog to drain")
        wait_until(lambda: agent.metric("oko_agent_spool_depth_events") == 0, 30, "empty spool")
        resent_duplicates = agent.metric("oko_agent_uplink_duplicates_total")
    finally:
        agent.stop()
    stored = fleet.events()
    print(
        f"kill -9: {stored_at_kill} stored at the kill, {last_total} announced, "
        f"{len(stored)} stored, {resent_duplicates:.0f} resent duplicates"
    )
    assert stored_at_kill < last_total <= len(stored)
    stored_ids = {e.event.event_id for e in stored}
    assert all(event_id in stored_ids for _, event_id in announced)
    # At most one append committed after its line was printed; nothing else is extra.
    assert len(stored) - last_total in (0, PER_APPEND)
    _assert_complete_and_ordered(stored, len(stored))


def test_fleet_away_20s_spool_grows_then_drains_in_order(tmp_path: Path) -> None:
    api_port, agent_port = free_port(), free_port()
    fleet_proc = FleetCli(tmp_path / "fleet", api_port, agent_port)
    handle = fleet_proc.start().handle()
    store = AgentStore(tmp_path / "agent")
    enroll(store, handle.api, handle.enrollment_token(), device_name="outage-box")
    store.close()
    fleet_proc.kill()  # unreachable: nothing listens on either port now
    agent = AgentProcess(_agent_config(tmp_path / "agent"), tmp_path / "agent.yaml")
    outage_s = 20.0
    try:
        started = time.monotonic()
        agent.start(events=400, per_append=10, interval=outage_s / 40)
        depths = []
        while time.monotonic() - started < outage_s:
            depths.append(agent.metric("oko_agent_spool_depth_events"))
            time.sleep(1.0)
        assert depths == sorted(depths) and depths[-1] >= 300  # grows, never shrinks
        assert agent.metric("oko_agent_uplink_connected") == 0
        handle = fleet_proc.start().handle()  # same data dir and ports: the box just reconnects
        wait_until(agent.produced, 30, "the source to finish")
        wait_until(lambda: agent.metric("oko_agent_spool_depth_events") == 0, 60, "the drain")
        stored = handle.events()
    finally:
        agent.stop()
        fleet_proc.stop()
        handle.close()
    _assert_complete_and_ordered(stored, 400)


def test_spool_full_drops_routine_first_counts_and_reports_it(
    fleet: FleetHandle, enrolled: Callable[..., AgentConfig]
) -> None:
    config = enrolled(spool={"max_events": 100})
    kinds = ["line_crossing", "zone", "traffic_flow", "wrong_way", "face", "line_crossing"]
    events = [make_event(f"cam-{i % 2}", i // 2 + 1, kinds[i % 6]) for i in range(300)]
    # First run: the fleet's agent port is unreachable (nothing listens on it).
    away = config.model_copy(
        update={"fleet": config.fleet.model_copy(update={"agent": f"127.0.0.1:{free_port()}"})}
    )
    parts = BoxParts.open(away)
    thread = AgentThread(parts.uplink).start()
    try:
        for start in range(0, 300, 20):
            parts.spool.append(events[start : start + 20])
        assert parts.spool.depth() == 100
        drops = parts.spool.drops_by_reason()
        assert sum(d.events for (_, reason), d in drops.items() if reason == DROP_FULL) == 200
        scraped = parts.metrics.registry.get_sample_value(
            "oko_agent_events_dropped_total", {"camera": "cam-0", "reason": DROP_FULL}
        )
        assert scraped == drops[("cam-0", DROP_FULL)].events
    finally:
        thread.stop()
        parts.close()
    kept = [e for e in events if priority_of(e) is not Priority.ROUTINE]
    assert len(kept) == 100  # exactly the alerts and faces survive
    parts = BoxParts.open(config)  # the fleet is back (normal endpoint)
    thread = AgentThread(parts.uplink).start()
    try:
        wait_until(lambda: parts.spool.depth() == 0, 30, "the drain")
        identity = parts.store.identity()
        assert identity is not None
        device = wait_until(
            lambda: (d := fleet.device(identity.device_id)).dropped_events and d,
            15,
            "the heartbeat's drop count",
        )
    finally:
        thread.stop()
        parts.close()
    assert device.dropped_events == 200
    assert sorted(e.event.event_id for e in fleet.events()) == sorted(e.event_id for e in kept)

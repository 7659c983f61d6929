"""The uplink against the real fleet over mutual TLS: delivery, acks, desired state."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import generate_latest

from agent.config.agent import AgentConfig
from agent.errors import ConfigError
from agent.pipeline.parts import BoxParts
from agent.spool import DROP_REJECTED
from proto.oko.v1 import admin_pb2
from tests.support.events import make_event, make_events
from tests.support.fleet import FleetHandle
from tests.support.net import wait_until
from tests.uplink.harness import AgentThread

Enrolled = Callable[..., AgentConfig]


@contextmanager
def running(config: AgentConfig) -> Iterator[BoxParts]:
    parts = BoxParts.open(config, camera_ids=lambda: ["cam-0", "cam-1"])
    thread = AgentThread(parts.uplink).start()
    try:
        yield parts
    finally:
        thread.stop()
        parts.close()


def _device_id(parts: BoxParts) -> str:
    identity = parts.store.identity()
    assert identity is not None
    return identity.device_id


def test_events_arrive_once_in_per_camera_order_and_leave_the_spool(
    fleet: FleetHandle, enrolled: Enrolled
) -> None:
    config = enrolled(fleet={"batch_max_events": 50, "max_in_flight": 3, "compression": "gzip"})
    sent = []
    with running(config) as parts:
        for round_ in range(6):
            batch = [
                make_event(f"cam-{i % 4}", round_ * 100 + i + 1, kind)
                for i, kind in enumerate(["line_crossing", "face", "zone", "traffic_flow"] * 25)
            ]
            parts.spool.append(batch)
            parts.uplink.notify()
            sent.extend(batch)
        wait_until(lambda: parts.spool.depth() == 0, 30, "the spool to drain")
        metrics = generate_latest(parts.metrics.registry).decode()
    stored = fleet.events()
    assert sorted(e.event.event_id for e in stored) == sorted(e.event_id for e in sent)
    for camera in ("cam-0", "cam-1", "cam-2", "cam-3"):
        sequences = [e.event.sequence for e in stored if e.event.camera_id == camera]
        assert sequences == sorted(sequences) and len(sequences) == 150
    device_id = _device_id(parts)
    assert {e.event.device_id for e in stored} == {device_id}
    assert 'oko_agent_uplink_sent_bytes_total{camera="cam-0"}' in metrics
    assert "oko_agent_uplink_ack_latency_seconds_count" in metrics
    assert "oko_agent_spool_depth_events 0.0" in metrics
    seen = fleet.device(device_id)
    assert seen.agent_version and seen.memory_percent > 0  # the heartbeat arrived


def test_desired_state_is_applied_reported_and_a_vetoed_one_refused(
    fleet: FleetHandle, enrolled: Enrolled
) -> None:
    config = enrolled()
    with running(config) as parts:
        device_id = _device_id(parts)

        def veto_camera_named_forbidden(cfg: AgentConfig) -> None:
            for i, cam in enumerate(cfg.cameras):
                if cam.id == "forbidden":
                    raise ConfigError(f"cameras[{i}].id: 'forbidden' cannot run on this box")

        parts.applier.add_checker(veto_camera_named_forbidden)
        good = "spool: {max_events: 5000}\nfleet: {batch_max_events: 100}\n"
        view = fleet.admin(
            "SetConfig", admin_pb2.SetConfigRequest(device_id=device_id, document=good)
        )
        version = view.rendered.version

        def reported(want: int) -> admin_pb2.ConfigView | None:
            request = admin_pb2.GetConfigRequest(device_id=device_id)
            current = fleet.admin("GetConfig", request)
            return current if current.reported_version == want else None

        wait_until(lambda: reported(version), 15, f"the box to report v{version}")
        assert parts.spool.max_events == 5000
        assert parts.uplink.settings.batch_max_events == 100
        bad = "cameras:\n  - {id: forbidden, source: rtsp://10.0.0.9/s}\n"
        fleet.admin("SetConfig", admin_pb2.SetConfigRequest(device_id=device_id, document=bad))

        def refused() -> admin_pb2.ConfigView | None:
            current = fleet.admin("GetConfig", admin_pb2.GetConfigRequest(device_id=device_id))
            return current if current.last_apply_error else None

        view = wait_until(refused, 15, "the box to report the refusal")
        assert "cameras[0].id" in view.last_apply_error
        assert view.reported_version == version and view.drift
        assert parts.applier.applied_version() == version
        assert parts.spool.max_events == 5000  # the last good config still runs


def test_events_the_fleet_rejects_are_deleted_and_counted_as_drops(
    fleet: FleetHandle, enrolled: Enrolled
) -> None:
    config = enrolled()
    with running(config) as parts:
        good = make_events("cam-0", 5)
        malformed = make_event("cam-1", 1)
        malformed.ClearField("capture_time")  # the fleet can never store it
        parts.spool.append([*good, malformed])
        parts.uplink.notify()
        wait_until(lambda: parts.spool.depth() == 0, 15, "the spool to drain")
        assert parts.spool.drops_by_reason()[("cam-1", DROP_REJECTED)].events == 1
    assert sorted(e.event.event_id for e in fleet.events()) == sorted(e.event_id for e in good)


def test_revoked_box_is_cut_off_and_keeps_its_events(
    fleet: FleetHandle, enrolled: Enrolled
) -> None:
    config = enrolled()
    with running(config) as parts:
        wait_until(parts.uplink.connected.is_set, 15, "the first connection")
        device_id = _device_id(parts)
        fleet.admin("RevokeDevice", admin_pb2.RevokeDeviceRequest(device_id=device_id))
        wait_until(lambda: not parts.uplink.connected.is_set(), 15, "the stream to be cut")
        parts.spool.append(make_events("cam-0", 3))
        parts.uplink.notify()
        metrics = parts.metrics.registry
        wait_until(
            lambda: metrics.get_sample_value(
                "oko_agent_uplink_connect_failures_total", {"code": "PERMISSION_DENIED"}
            ),
            15,
            "a refused reconnect",
        )
        assert parts.spool.depth() == 3  # nothing is lost while refused


def test_routine_events_linger_for_company_but_an_alert_goes_at_once(
    fleet: FleetHandle, enrolled: Enrolled
) -> None:
    config = enrolled(fleet={"batch_linger_s": 60.0, "reconnect_min_s": 0.1})
    with running(config) as parts:
        wait_until(parts.uplink.connected.is_set, 15, "the connection")
        routine = make_events("cam-0", 3)
        parts.spool.append(routine)
        parts.uplink.notify()
        time.sleep(1.5)
        assert fleet.events() == []  # still waiting for a fuller batch
        alert = make_event("cam-1", 1, "wrong_way")
        parts.spool.append([alert])
        parts.uplink.notify()
        wait_until(lambda: parts.spool.depth() == 0, 15, "the alert's batch")
    assert [e.event.event_id for e in fleet.events()] == [
        *(e.event_id for e in routine),
        alert.event_id,
    ]

"""The fleet's /metrics passes `promtool check metrics` (Prometheus's own linter: base units,
`_total` on counters) and exports nothing under the agent's `oko_agent_` prefix
(issue 9, item 15). promtool comes from Debian's `prometheus` package
(scripts/install-system-deps.sh)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from proto.oko.v1 import admin_pb2, admin_pb2_grpc, agent_pb2
from proto.transport import bearer_metadata
from tests.fleet.conftest import running_fleet
from tests.fleet.helpers import AgentStream, event, new_device

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def _promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool missing: run scripts/install-system-deps.sh (Debian's prometheus)"
    return found


async def test_fleet_metrics_pass_promtool_and_use_the_fleet_prefix(tmp_path: Path) -> None:
    async with running_fleet(
        tmp_path / "f", metrics_listen="127.0.0.1:0", console_listen="127.0.0.1:0"
    ) as fleet:
        ident = await new_device(fleet.server, fleet.admin, fleet.ca)
        async with ident.channel(fleet.server.agent_port) as channel:
            box = AgentStream(channel)
            heartbeat = agent_pb2.Heartbeat(
                spool_depth=7,
                dropped_events=3,
                cameras=[agent_pb2.CameraHealth(camera_id="cam-1", fps=4.5, inference_ms=12.5)],
            )
            box.send(agent_pb2.AgentMessage(heartbeat=heartbeat))
            box.send_batch([event("cam-1", 1)])
            await box.next("ack")
            box.close()
        # Fill the labelled families too: a refused call and a corrupt request.
        with pytest.raises(grpc.aio.AioRpcError):
            await admin_pb2_grpc.AdminServiceStub(fleet.api).GetStatus(
                admin_pb2.GetStatusRequest(), metadata=bearer_metadata("okoa.x.y"), timeout=10
            )
        raw = fleet.api.unary_unary(
            "/oko.v1.AdminService/GetStatus", request_serializer=bytes, response_deserializer=bytes
        )
        with pytest.raises(grpc.aio.AioRpcError):
            await raw(b"\xff\xff", timeout=10)
        assert fleet.server.metrics_server is not None
        async with httpx.AsyncClient() as client:
            text = (await client.get(fleet.server.metrics_server.url)).text

    lint = subprocess.run(
        [_promtool(), "check", "metrics"],
        check=False,
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert not (lint.stdout + lint.stderr).strip()

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    names = {name for name, _ in samples}
    assert all(n.startswith("oko_fleet_") for n in names if n.startswith("oko_")), names
    assert not [n for n in names if n.startswith("oko_agent_")]
    camera = (("camera_id", "cam-1"), ("device_id", ident.device_id))
    assert samples[("oko_fleet_camera_inference_seconds", camera)] == pytest.approx(0.0125)
    assert samples[("oko_fleet_camera_frames_per_second", camera)] == pytest.approx(4.5)
    device = (("device_id", ident.device_id),)
    assert samples[("oko_fleet_device_spool_events", device)] == 7
    assert samples[("oko_fleet_device_dropped_events", device)] == 3
    method = (("method", "/oko.v1.AdminService/GetStatus"),)
    assert samples[("oko_fleet_requests_malformed_total", method)] == 1

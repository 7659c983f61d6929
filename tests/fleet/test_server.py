"""Server plumbing: gRPC health, server reflection (what grpcurl needs), Prometheus."""

from __future__ import annotations

from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from proto.oko.v1 import agent_pb2
from tests.fleet.conftest import Fleet, running_fleet
from tests.fleet.helpers import AgentStream, event, new_device

pytestmark = pytest.mark.anyio


async def test_health_reports_serving_for_every_service(fleet: Fleet) -> None:
    stub = health_pb2_grpc.HealthStub(fleet.api)
    for service in ("", "oko.v1.AgentService", "oko.v1.AdminService", "oko.v1.EventService"):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, service
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Check(health_pb2.HealthCheckRequest(service="oko.v1.Nope"), timeout=5)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reflection_lists_services_and_describes_messages(fleet: Fleet) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(fleet.api)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="oko.v1.EventService"),
    ]
    replies = [r async for r in stub.ServerReflectionInfo(iter(requests))]
    names = {s.name for s in replies[0].list_services_response.service}
    assert {
        "oko.v1.AgentService",
        "oko.v1.AdminService",
        "oko.v1.EventService",
        "grpc.health.v1.Health",
    } <= names
    files = replies[1].file_descriptor_response.file_descriptor_proto
    assert any(b"SubscribeBatches" in f for f in files)


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


async def test_prometheus_metrics_count_ingest_and_box_health(tmp_path: Path) -> None:
    async with running_fleet(tmp_path / "f", metrics_listen="127.0.0.1:0") as fleet:
        assert fleet.server.metrics_server is not None
        ident = await new_device(fleet.server, fleet.admin, fleet.ca)
        async with ident.channel(fleet.server.agent_port) as channel:
            stream = AgentStream(channel)
            stream.send(
                agent_pb2.AgentMessage(
                    heartbeat=agent_pb2.Heartbeat(
                        spool_depth=42, cameras=[agent_pb2.CameraHealth(camera_id="cam-1", fps=5.0)]
                    )
                )
            )
            events = [event("cam-1", i) for i in range(3)]
            stream.send_batch(events)
            stream.send_batch(events[:1])
            await stream.next("ack")
            await stream.next("ack")
            async with httpx.AsyncClient() as client:
                text = (await client.get(fleet.server.metrics_server.url)).text
            stream.close()
    assert _sample(text, "oko_fleet_events_ingested_total") == 3
    assert _sample(text, "oko_fleet_events_duplicate_total") == 1
    assert _sample(text, "oko_fleet_batches_total") == 2
    assert _sample(text, "oko_fleet_devices_connected") == 1
    assert _sample(text, f'oko_fleet_device_spool_events{{device_id="{ident.device_id}"}}') == 42
    fps = f'oko_fleet_camera_frames_per_second{{camera_id="cam-1",device_id="{ident.device_id}"}}'
    assert _sample(text, fps) == 5
    assert _sample(text, "oko_fleet_ack_latency_seconds_count") == 2

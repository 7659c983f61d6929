"""Issue 9, defect 5: what one box sends cannot break fleet-wide views or metrics.

Every string, list, map and number of Hello, Heartbeat, StateReport and EnrollRequest is
bounded on receipt (fleet/limits.py); a message outside the bounds ends that box's stream
with INVALID_ARGUMENT and a reason naming the field, stores nothing of it, and leaves
`device list`, `camera list`, `device show` and `config get` working for everyone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest

from proto.oko.v1 import admin_pb2, agent_pb2, agent_pb2_grpc
from proto.transport import bearer_metadata
from tests.fleet.bystanders import Bystanders
from tests.fleet.conftest import Fleet, running_fleet
from tests.fleet.helpers import (
    AgentStream,
    Identity,
    admin_stub,
    api_channel,
    enrollment_token,
    event,
    make_csr,
    new_device,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[tuple[Fleet, Bystanders, Identity]]:
    async with running_fleet(tmp_path / "f", metrics_listen="127.0.0.1:0") as fleet:
        bystanders = await Bystanders.join(fleet)
        hostile = await new_device(fleet.server, fleet.admin, fleet.ca, name="bad-box")
        yield fleet, bystanders, hostile
        await bystanders.close()


async def _refused(fleet: Fleet, ident: Identity, *messages: agent_pb2.AgentMessage) -> str:
    """Connect, send `messages`, return the details of the INVALID_ARGUMENT that ends it."""
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel, hello=False)
        for message in messages:
            stream.send(message)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stream.next("never")
        stream.close()  # let the request generator finish before the channel goes
        await asyncio.sleep(0)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
    return info.value.details() or ""


def _hello(**fields: object) -> agent_pb2.AgentMessage:
    return agent_pb2.AgentMessage(hello=agent_pb2.Hello(protocol=1, **fields))  # type: ignore[arg-type]


def _beat(*cameras: agent_pb2.CameraHealth, **fields: object) -> agent_pb2.AgentMessage:
    return agent_pb2.AgentMessage(heartbeat=agent_pb2.Heartbeat(cameras=cameras, **fields))  # type: ignore[arg-type]


async def _views_work(fleet: Fleet, device_id: str) -> admin_pb2.Device:
    """What every operator runs: all of it answers, whatever the hostile box sent."""
    meta = bearer_metadata(fleet.admin)
    stub = admin_stub(fleet.api)
    await stub.ListDevices(admin_pb2.ListDevicesRequest(), metadata=meta, timeout=10)
    await stub.ListCameras(admin_pb2.ListCamerasRequest(), metadata=meta, timeout=10)
    await stub.GetConfig(admin_pb2.GetConfigRequest(device_id=device_id), metadata=meta)
    return await stub.GetDevice(admin_pb2.GetDeviceRequest(device_id=device_id), metadata=meta)


async def _metric_lines(fleet: Fleet, device_id: str) -> list[str]:
    assert fleet.server.metrics_server is not None
    async with httpx.AsyncClient() as client:
        text = (await client.get(fleet.server.metrics_server.url)).text
    return [line for line in text.splitlines() if f'device_id="{device_id}"' in line]


async def test_hello_and_heartbeat_fields_are_bounded(
    watched: tuple[Fleet, Bystanders, Identity],
) -> None:
    fleet, bystanders, bad = watched
    cam = agent_pb2.CameraHealth
    thousands = [cam(camera_id=f"fake-{i}") for i in range(20_000)]
    far = cam(camera_id="cam-1")
    far.last_frame_at.seconds = 10**13
    cases = [
        ((_hello(agent_version="v" * 1024 * 1024),), "hello.agent_version has 1048576"),
        ((_hello(camera_ids=["ok", "bad\x1b[31m"]),), "hello.camera_ids[1] 'bad\\x1b[31m'"),
        ((_hello(), _beat(*thousands)), "heartbeat names 20000 cameras, limit 64"),
        ((_hello(), _beat(far)), "heartbeat.cameras[0].last_frame_at 10000000000000 s"),
        ((_hello(), _beat(cam(camera_id="c", fps=float("nan")))), "cameras[0].fps nan"),
        ((_hello(), _beat(cpu_percent=1e30)), "heartbeat.cpu_percent"),
        ((_hello(), _beat(cam(camera_id="c", error="e" * 9000))), "error has 9000 characters"),
        ((_hello(), _beat(cam(camera_id="a b"))), "camera_id 'a b' is not an id"),
    ]
    for messages, reason in cases:
        assert reason in await _refused(fleet, bad, *messages)
        await bystanders.still_served()
    device = await _views_work(fleet, bad.device_id)
    assert device.agent_version == "" and list(device.cameras) == []
    # No per-camera series for the box that named 20,000 made-up cameras.
    assert not [line for line in await _metric_lines(fleet, bad.device_id) if "camera_id" in line]


async def test_state_reports_and_command_results_are_bounded(
    watched: tuple[Fleet, Bystanders, Identity],
) -> None:
    fleet, bystanders, bad = watched
    state = agent_pb2.StateReport
    cases = [
        (state(document="d" * (1024 * 1024)), "state.document is 1048576 bytes, limit 262144"),
        (state(error="boom\x1b]0;owned\x07"), "state.error 'boom\\x1b]0;owned\\x07'"),
        (state(applied_version=2**64 - 1), "state.applied_version"),
    ]
    for report, reason in cases:
        assert reason in await _refused(fleet, bad, _hello(), agent_pb2.AgentMessage(state=report))
    result = agent_pb2.CommandResult(command_id="c1", message="m" * 100_000)
    reason = await _refused(fleet, bad, _hello(), agent_pb2.AgentMessage(command_result=result))
    assert "command_result.message has 100000 characters" in reason
    await bystanders.still_served()
    meta = bearer_metadata(fleet.admin)
    view = await admin_stub(fleet.api).GetConfig(
        admin_pb2.GetConfigRequest(device_id=bad.device_id), metadata=meta
    )
    assert view.reported_document == "" and view.last_apply_error == ""


async def test_camera_series_and_rows_follow_the_latest_heartbeat(
    watched: tuple[Fleet, Bystanders, Identity],
) -> None:
    fleet, bystanders, box = watched
    cam = agent_pb2.CameraHealth
    async with box.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        await stream.next("welcome")
        for round_ in range(5):  # a box renaming its cameras every heartbeat
            stream.send(_beat(*(cam(camera_id=f"r{round_}-{i}", fps=5.0) for i in range(60))))
        stream.send(_beat(cam(camera_id="cam-1", fps=5.0), cam(camera_id="cam-2", fps=4.0)))
        stream.send_batch([event("cam-1", 1)])
        await stream.next("ack")  # stream order: every heartbeat before it was handled
        await bystanders.still_served()
        device = await _views_work(fleet, box.device_id)
        assert sorted(c.camera_id for c in device.cameras) == ["cam-1", "cam-2"]
        series = [line for line in await _metric_lines(fleet, box.device_id) if "camera_id" in line]
        assert len(series) == 4  # fps and inference ms of the two cameras it runs now
        stream.close()


async def test_enrollment_fields_are_bounded_and_a_refusal_spends_no_token(fleet: Fleet) -> None:
    token = await enrollment_token(fleet.api, fleet.admin)
    stub = agent_pb2_grpc.AgentServiceStub(fleet.api)
    _, csr = make_csr()
    cases = [
        ({"device_name": "box\nFAKE LOG LINE"}, "device_name 'box\\nFAKE LOG LINE' is not an id"),
        ({"device_name": "b", "labels": {f"k{i}": "v" for i in range(100)}}, "100 labels"),
        ({"device_name": "b", "labels": {"k": "v" * 1000}}, "labels['k'] has 1000 characters"),
        ({"device_name": "b", "labels": {"k\x1b": "v"}}, "labels key 'k\\x1b'"),
        ({"device_name": "b", "hostname": "h" * 300}, "hostname has 300 characters"),
        ({"device_name": "b", "agent_version": "1.0\r\n"}, "agent_version '1.0\\r\\n'"),
    ]
    for fields, reason in cases:
        request = agent_pb2.EnrollRequest(token=token, csr_pem=csr, **fields)  # type: ignore[arg-type]
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Enroll(request, timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason in (info.value.details() or ""), info.value.details()
    async with api_channel(fleet.server.api_port, fleet.ca) as channel:
        reply = await agent_pb2_grpc.AgentServiceStub(channel).Enroll(
            agent_pb2.EnrollRequest(
                token=token, csr_pem=csr, device_name="pole-17", labels={"district": "7"}
            ),
            timeout=10,
        )
    assert reply.device_id.startswith("dev-")


async def test_a_box_with_a_wrong_clock_keeps_its_stream(
    watched: tuple[Fleet, Bystanders, Identity],
) -> None:
    """Times the fleet never stores (the box's clock at sending) only need to be times; a
    box whose clock is off keeps reporting, and only a non-time is refused."""
    fleet, bystanders, box = watched
    async with box.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel, hello=False)
        hello = agent_pb2.Hello(protocol=1)
        hello.started_at.seconds = 3600  # 1970: an RTC that was never set
        stream.send(agent_pb2.AgentMessage(hello=hello))
        await stream.next("welcome")
        beat = agent_pb2.Heartbeat(spool_depth=5)
        beat.sent_at.seconds = 4_000_000_000  # year 2096
        stream.send(agent_pb2.AgentMessage(heartbeat=beat))
        stream.send_batch([event("cam-1", 1)])
        assert (await stream.next("ack")).ack.accepted == 1
        stream.close()
    beat = agent_pb2.Heartbeat()
    beat.sent_at.seconds = 10**13  # not a time at all (after year 9999)
    reason = await _refused(fleet, box, _hello(), agent_pb2.AgentMessage(heartbeat=beat))
    assert "heartbeat.sent_at" in reason
    await bystanders.still_served()
    assert (await _views_work(fleet, box.device_id)).spool_depth == 5

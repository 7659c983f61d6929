"""Desired state: validated versions per box and camera, pushed live, drift from reports."""

from __future__ import annotations

import grpc
import pytest
import yaml

from proto.oko.v1 import admin_pb2, agent_pb2
from proto.transport import bearer_metadata
from tests.fleet.conftest import Fleet
from tests.fleet.helpers import AgentStream, admin_stub, new_device

pytestmark = pytest.mark.anyio

BOX = "device:\n  name: gate-7\ncameras:\n  - id: cam-1\n    source: rtsp://10.0.0.5/stream\n"
CAMERA = "source: rtsp://10.0.0.6/stream\ndetect_fps: 4\n"


async def _set(
    fleet: Fleet, device_id: str, text: str, camera: str = "", expected: int = 0
) -> admin_pb2.ConfigView:
    return await admin_stub(fleet.api).SetConfig(
        admin_pb2.SetConfigRequest(
            device_id=device_id, camera_id=camera, document=text, expected_version=expected
        ),
        metadata=bearer_metadata(fleet.admin),
        timeout=10,
    )


async def _get(fleet: Fleet, device_id: str, camera: str = "") -> admin_pb2.ConfigView:
    return await admin_stub(fleet.api).GetConfig(
        admin_pb2.GetConfigRequest(device_id=device_id, camera_id=camera),
        metadata=bearer_metadata(fleet.admin),
        timeout=10,
    )


async def test_config_is_versioned_pushed_and_reported_back(fleet: Fleet) -> None:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        await stream.next("welcome")
        view = await _set(fleet, ident.device_id, BOX)
        assert view.rendered.version == 1 and view.drift
        pushed = (await stream.next("desired")).desired
        assert pushed.version == 1
        assert yaml.safe_load(pushed.document)["cameras"][0]["id"] == "cam-1"

        await _set(fleet, ident.device_id, CAMERA, camera="cam-2")
        pushed = (await stream.next("desired")).desired
        rendered = yaml.safe_load(pushed.document)
        assert pushed.version == 2
        assert [c["id"] for c in rendered["cameras"]] == ["cam-1", "cam-2"]
        assert rendered["cameras"][1]["detect_fps"] == 4

        stream.send(
            agent_pb2.AgentMessage(
                state=agent_pb2.StateReport(
                    applied_version=2, attempted_version=2, ok=True, document=pushed.document
                )
            )
        )
        stream.send(agent_pb2.AgentMessage(heartbeat=agent_pb2.Heartbeat()))
        stream.send_batch([])
        await stream.next("ack")
        view = await _get(fleet, ident.device_id)
        assert (view.reported_version, view.drift) == (2, False)
        stream.close()


async def test_invalid_config_is_refused_naming_the_field_and_last_good_kept(
    fleet: Fleet,
) -> None:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    await _set(fleet, ident.device_id, BOX)
    bad_docs = {
        "cameras:\n  - id: cam-1\n    source: rtsp://x\n    detect_fps: -1\n": "detect_fps",
        "bogus_section: 1\n": "bogus_section",
        "cameras: [1, 2": "YAML",
        "- just\n- a list\n": "mapping",
        "cameras:\n  - {id: a, source: x}\n  - {id: a, source: y}\n": "duplicate",
    }
    for text, named in bad_docs.items():
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _set(fleet, ident.device_id, text)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert named in (info.value.details() or ""), info.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _set(fleet, ident.device_id, "id: other\nsource: x\n", camera="cam-9")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    view = await _get(fleet, ident.device_id)
    assert view.rendered.version == 1 and view.desired.document == BOX


async def test_stale_expected_version_is_a_conflict(fleet: Fleet) -> None:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    await _set(fleet, ident.device_id, BOX, expected=0)
    await _set(fleet, ident.device_id, CAMERA, camera="cam-2", expected=1)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _set(fleet, ident.device_id, BOX, expected=1)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await _get(fleet, ident.device_id)).rendered.version == 2


async def test_failed_apply_shows_as_drift_with_the_agents_error(fleet: Fleet) -> None:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    await _set(fleet, ident.device_id, BOX)
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel, applied_version=0)
        pushed = (await stream.next("desired")).desired  # sent on Hello: box is behind
        stream.send(
            agent_pb2.AgentMessage(
                state=agent_pb2.StateReport(
                    applied_version=0,
                    attempted_version=pushed.version,
                    ok=False,
                    error="cameras[0].source: cannot open",
                )
            )
        )
        stream.send_batch([])
        await stream.next("ack")
        stream.close()
    view = await _get(fleet, ident.device_id)
    assert view.drift and "cannot open" in view.last_apply_error


async def test_config_for_unknown_device_is_not_found(fleet: Fleet) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _set(fleet, "dev-nope", BOX)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_same_version_with_other_content_is_drift(fleet: Fleet) -> None:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    view = await _set(fleet, ident.device_id, BOX)
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        await stream.next("welcome")
        for document, drifts in ((view.rendered.document + "# edited\n", True), (None, False)):
            stream.send(
                agent_pb2.AgentMessage(
                    state=agent_pb2.StateReport(
                        applied_version=1,
                        attempted_version=1,
                        ok=True,
                        document=view.rendered.document if document is None else document,
                    )
                )
            )
            stream.send_batch([])
            await stream.next("ack")
            assert (await _get(fleet, ident.device_id)).drift is drifts
        stream.close()

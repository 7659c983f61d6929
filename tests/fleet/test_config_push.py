"""SetConfigs (`okoctl config set --selector`): one call, one document, many boxes.

A real fleet (TLS on loopback, in this process) with enrolled boxes connected on real mTLS
Connect streams: the push reaches exactly the matching boxes, each with its own version,
writes one audit entry, refuses a viewer, a bad document (naming the field, storing
nothing) and a selector that matches nothing, and stores no new version for the same
content. The store half (both stores) keeps a concurrent edit of one device.
"""

from __future__ import annotations

import grpc
import pytest

from fleet.store.base import Store
from fleet.store.records import ConfigDoc
from fleet.watchlists.records import AuditQuery
from proto.oko.v1 import admin_pb2, agent_pb2, agent_pb2_grpc
from proto.transport import bearer_metadata
from tests.fleet.conftest import Fleet
from tests.fleet.helpers import (
    AgentStream,
    Identity,
    admin_stub,
    enrollment_token,
    make_csr,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

DOC = "cameras:\n  - id: gate\n    source: rtsp://10.0.0.5/s\n    detect_fps: 4\n"
SAME = "# the same content\ncameras: [{detect_fps: 4, id: gate, source: 'rtsp://10.0.0.5/s'}]\n"
RULE = (
    "cameras:\n  - id: gate\n    source: rtsp://10.0.0.5/s\n    lines:\n"
    "      - {id: door, points: [[0, 0], [10, 10]], classes: [person]}\n"
)


async def _enroll(fleet: Fleet, name: str, site: str, **labels: str) -> Identity:
    token = await enrollment_token(fleet.api, fleet.admin, site)
    key_pem, csr = make_csr()
    channel = grpc.aio.secure_channel(
        f"localhost:{fleet.server.api_port}", grpc.ssl_channel_credentials(fleet.ca)
    )
    async with channel:
        reply = await agent_pb2_grpc.AgentServiceStub(channel).Enroll(
            agent_pb2.EnrollRequest(token=token, csr_pem=csr, device_name=name, labels=labels),
            timeout=10,
        )
    return Identity(
        reply.device_id, key_pem, reply.certificate_pem.encode(), reply.ca_pem.encode(), site
    )


async def _push(
    fleet: Fleet,
    selector: str,
    document: str = DOC,
    token: str = "",
    *,
    camera_id: str = "",
    dry_run: bool = False,
) -> admin_pb2.SetConfigsResponse:
    return await admin_stub(fleet.api).SetConfigs(
        admin_pb2.SetConfigsRequest(
            selector=selector, document=document, camera_id=camera_id, dry_run=dry_run
        ),
        metadata=bearer_metadata(token or fleet.admin),
        timeout=20,
    )


async def _refused(fleet: Fleet, code: grpc.StatusCode, *args: str, **kw: object) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _push(fleet, *args, **kw)  # type: ignore[arg-type]
    assert info.value.code() == code
    return info.value.details() or ""


async def _versions(fleet: Fleet, devices: list[Identity]) -> list[int]:
    return [
        (await fleet.server.app.store.get_desired(d.device_id) or _NONE).version for d in devices
    ]


_NONE = ConfigDoc("", "*", 0, "", "", 0, "")


async def _audit(fleet: Fleet) -> list[str]:
    rows = await fleet.server.app.store.list_audit(AuditQuery(action="config."))
    return [f"{r.action} {r.target} {r.detail}" for r in rows]


async def test_one_call_reaches_every_matching_box_and_no_other(fleet: Fleet) -> None:
    gates = [await _enroll(fleet, f"gate-{i}", "north", role="gate") for i in range(3)]
    lamp = await _enroll(fleet, "lamp", "north", role="lamp")
    south = await _enroll(fleet, "south-gate", "south", role="gate")
    offline = await _enroll(fleet, "gate-offline", "north", role="gate")
    online = [*gates, lamp, south]
    channels = [d.channel(fleet.server.agent_port) for d in online]
    streams = [AgentStream(c) for c in channels]
    try:
        for s in streams:
            await s.next("welcome")
        reply = await _push(fleet, "site=north, role=gate")
        assert (reply.matched, reply.changed, reply.unchanged, reply.failed) == (4, 4, 0, 0)
        assert reply.delivered == 3 and reply.selector == "site=north,role=gate"
        by_id = {r.device_id: r for r in reply.devices}
        assert sorted(by_id) == sorted(d.device_id for d in [*gates, offline])
        assert not by_id[offline.device_id].delivered and by_id[gates[0].device_id].delivered
        for stream in streams[:3]:
            got = (await stream.next("desired")).desired
            assert got.version == 1 and "rtsp://10.0.0.5/s" in got.document
        # The others got nothing: the first desired state they see is a later, own one.
        for ident, stream in ((lamp, streams[3]), (south, streams[4])):
            await admin_stub(fleet.api).SetConfig(
                admin_pb2.SetConfigRequest(device_id=ident.device_id, document="cameras: []\n"),
                metadata=bearer_metadata(fleet.admin),
            )
            got = (await stream.next("desired")).desired
            assert got.version == 1 and "gate" not in got.document
        entries = await _audit(fleet)
        assert [e for e in entries if e.startswith("config.set_many")] == [
            f"config.set_many site=north,role=gate scope=box devices=4 sha256="
            f"{reply.sha256} unchanged=0 failed=0"
        ]
        # The same content again (re-ordered, commented): no new version, nothing audited.
        again = await _push(fleet, "site=north,role=gate", SAME)
        assert (again.changed, again.unchanged) == (0, 4)
        assert {r.version for r in again.devices} == {1}
        assert len(await _audit(fleet)) == len(entries)
        # A camera document on top: each box's rendered document gets its own next version.
        cam = await _push(fleet, "role=gate", "source: rtsp://10.0.0.9/s\n", camera_id="side")
        assert cam.matched == 5 and {r.version for r in cam.devices} == {2}
        assert "10.0.0.9" in (await streams[4].next("desired")).desired.document
    finally:
        for stream in streams:
            stream.close()
        for channel in channels:
            await channel.close()
    # The box that was away gets its version when it connects.
    async with offline.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        got = (await stream.next("desired")).desired
        assert got.version == 2 and "10.0.0.9" in got.document
        stream.close()


async def test_refusals_store_nothing(fleet: Fleet) -> None:
    boxes = [await _enroll(fleet, f"box-{i}", "east") for i in range(2)]
    reply = await admin_stub(fleet.api).CreateApiToken(
        admin_pb2.CreateApiTokenRequest(name="watcher", role=admin_pb2.ROLE_VIEWER),
        metadata=bearer_metadata(fleet.admin),
    )
    await _refused(fleet, grpc.StatusCode.PERMISSION_DENIED, "site=east", token=reply.token)
    bad = "cameras:\n  - id: gate\n    source: rtsp://10.0.0.5/s\n    detect_fps: -3\n"
    details = await _refused(fleet, grpc.StatusCode.INVALID_ARGUMENT, "site=east", bad)
    assert "detect_fps" in details and "document" in details
    details = await _refused(fleet, grpc.StatusCode.INVALID_ARGUMENT, "site=nowhere")
    assert "'site=nowhere'" in details and "no enrolled device" in details
    details = await _refused(
        fleet, grpc.StatusCode.INVALID_ARGUMENT, "site=east", camera_id="../" + "x" * 500
    )
    assert details.startswith("camera_id:") and len(details) < 200
    details = await _refused(fleet, grpc.StatusCode.INVALID_ARGUMENT, "site")
    assert "selector term 1" in details
    masked = "cameras:\n  - id: gate\n    source: rtsp://u:***@10.0.0.5/s\n"
    assert "***" in await _refused(fleet, grpc.StatusCode.INVALID_ARGUMENT, "site=east", masked)
    dry = await _push(fleet, "site=east", dry_run=True)
    assert dry.changed == 2 and {r.version for r in dry.devices} == {1}
    assert await _versions(fleet, boxes) == [0, 0]
    assert not await _audit(fleet)


async def test_a_device_whose_rendering_is_refused_fails_alone(fleet: Fleet) -> None:
    plates, plain = await _enroll(fleet, "plates", "west"), await _enroll(fleet, "plain", "west")
    async with plates.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        await stream.next("welcome")
        report = agent_pb2.StateReport(
            ok=True, detector_model="plates-v1", detector_labels=["plate"]
        )
        stream.send(agent_pb2.AgentMessage(state=report))
        stream.send_batch([])
        await stream.next("ack")
        stream.close()
    reply = await _push(fleet, "site=west", RULE)
    assert (reply.changed, reply.failed) == (1, 1)
    failed = next(r for r in reply.devices if r.error)
    assert failed.device_id == plates.device_id
    assert "'person' is not a label of plates-v1" in failed.error
    assert await _versions(fleet, [plates, plain]) == [0, 1]


def _pair(device_id: str, version: int, text: str = "cameras: []\n") -> tuple[ConfigDoc, ConfigDoc]:
    return (
        ConfigDoc(device_id, "", version, text, "s", 1, "t"),
        ConfigDoc(device_id, "*", version, text, "r", 1, "t"),
    )


async def test_put_configs_keeps_a_concurrent_edit(any_store: Store) -> None:
    await any_store.put_config(*_pair("d-moved", 1), 0)
    assert await any_store.put_configs([_pair("d-a", 1), _pair("d-moved", 1), _pair("d-b", 1)]) == [
        "d-moved"
    ]
    docs = await any_store.config_docs_of(["d-a", "d-b", "d-moved", "d-none"])
    assert {d: sorted(docs[d]) for d in docs} == {
        "d-a": ["", "*"],
        "d-b": ["", "*"],
        "d-moved": ["", "*"],
        "d-none": [],
    }
    assert docs["d-moved"]["*"].version == 1
    assert await any_store.put_configs([_pair("d-a", 2, "cameras: [] # 2\n")]) == []
    assert (await any_store.config_docs_of(["d-a"]))["d-a"]["*"].version == 2

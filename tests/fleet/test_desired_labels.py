"""The fleet refuses rule class names the box's detector lacks, as the box itself would."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from fleet.model_labels import manifest_labels, reported_detector
from fleet.store.records import StateReportRecord
from proto.oko.v1 import admin_pb2, agent_pb2
from proto.transport import bearer_metadata
from tests.fleet.conftest import Fleet
from tests.fleet.helpers import AgentStream, admin_stub, new_device

pytestmark = pytest.mark.anyio

RULE = (
    "cameras:\n  - id: gate\n    source: rtsp://10.0.0.5/s\n    lines:\n"
    "      - {{id: door, points: [[0, 0], [10, 10]], classes: [{classes}]}}\n"
)


async def _set(fleet: Fleet, device_id: str, text: str) -> admin_pb2.ConfigView:
    return await admin_stub(fleet.api).SetConfig(
        admin_pb2.SetConfigRequest(device_id=device_id, document=text),
        metadata=bearer_metadata(fleet.admin),
        timeout=10,
    )


async def _report(channel: grpc.aio.Channel, report: agent_pb2.StateReport) -> None:
    stream = AgentStream(channel)
    await stream.next("welcome")
    stream.send(agent_pb2.AgentMessage(state=report))
    stream.send_batch([])
    await stream.next("ack")  # the report was handled before the batch
    stream.close()


async def _refused(fleet: Fleet, device_id: str, text: str) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _set(fleet, device_id, text)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return info.value.details() or ""


async def test_classes_are_checked_against_the_reported_model(fleet: Fleet) -> None:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    # Never reported: the fleet cannot know the labels, the box still checks.
    assert (await _set(fleet, ident.device_id, RULE.format(classes="persn"))).rendered.version
    async with ident.channel(fleet.server.agent_port) as channel:
        await _report(
            channel,
            agent_pb2.StateReport(ok=True, detector_model="nanodet-m", detector_version="1.0.0"),
        )
    details = await _refused(fleet, ident.device_id, RULE.format(classes="person, persn"))
    assert "cameras[0].lines[0].classes[1]: 'persn' is not a label of nanodet-m" in details
    view = await _set(fleet, ident.device_id, RULE.format(classes="person, car"))
    assert view.rendered.version == 2  # the refusal stored nothing

    async with ident.channel(fleet.server.agent_port) as channel:
        await _report(
            channel,
            agent_pb2.StateReport(ok=True, detector_model="plates-v1", detector_labels=["plate"]),
        )
    details = await _refused(fleet, ident.device_id, RULE.format(classes="plate, person"))
    assert "classes[1]: 'person' is not a label of plates-v1" in details


async def test_a_report_with_unbounded_labels_is_refused(fleet: Fleet) -> None:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        await stream.next("welcome")
        report = agent_pb2.StateReport(ok=True, detector_labels=["x" * 10] * 5000)
        stream.send(agent_pb2.AgentMessage(state=report))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stream.next("ack")
        assert "state.detector_labels" in (info.value.details() or "")


def test_labels_come_from_the_manifest_when_only_the_name_is_known(tmp_path: Path) -> None:
    assert manifest_labels("nanodet-m")[:2] == ("person", "bicycle")
    assert manifest_labels("no-such-model") == ()
    broken = tmp_path / "manifest.json"
    broken.write_text("{not json")
    assert manifest_labels("nanodet-m", broken) == ()
    report = StateReportRecord(0, 1, "", 1, True, "", detector_model="nanodet-m")
    found = reported_detector(report)
    assert found is not None and found.model == "nanodet-m" and "person" in found.labels
    assert reported_detector(None) is None
    assert reported_detector(StateReportRecord(0, 1, "", 1, True, "", "unknown")) is None

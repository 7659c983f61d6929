"""Reading what the fleet stored and what boxes report, for the model delivery tests."""

from __future__ import annotations

import json
from pathlib import Path

from proto import transport
from proto.oko.v1 import models_pb2, models_pb2_grpc
from tests.support.fleet import FleetHandle
from tests.support.model_artifacts import status
from tests.support.net import wait_until


def device_id(config_dir: Path) -> str:
    """The enrolled id, read from the identity document (the agent may be running)."""
    doc = json.loads((config_dir / "data" / "agent.json").read_text())
    return str(next(iter(doc["identity"].values()))["device_id"])


def versions_in_order(fleet: FleetHandle, camera: str = "gate") -> list[str]:
    """The detector version of every stored event of `camera`, in sequence order."""
    events = sorted((e.event for e in fleet.events((camera,))), key=lambda e: e.sequence)
    return [e.models[0].version for e in events]


def runs(versions: list[str]) -> list[str]:
    """Consecutive distinct values: [a, a, b, b, a] -> [a, b, a]."""
    out: list[str] = []
    for v in versions:
        if not out or out[-1] != v:
            out.append(v)
    return out


def settled(
    fleet: FleetHandle, device: str, assignment_id: int, timeout: float = 180
) -> models_pb2.ModelSlotStatus:
    """The slot once the box reported a final state for `assignment_id`."""

    def done() -> models_pb2.ModelSlotStatus | None:
        slot = status(fleet, device)
        final = slot.state in ("running", "failed", "rolled_back")
        return slot if final and slot.report.assignment_id == assignment_id else None

    return wait_until(done, timeout, f"the box to settle assignment {assignment_id}")


def rollback(fleet: FleetHandle, devices: list[str]) -> models_pb2.AssignModelResponse:
    """`okoctl model rollback DEVICE...`."""
    stub = models_pb2_grpc.ModelServiceStub(fleet.channel())
    return stub.RollbackModel(
        models_pb2.RollbackModelRequest(device_ids=devices),
        metadata=transport.bearer_metadata(fleet.admin_token),
        timeout=30,
    )

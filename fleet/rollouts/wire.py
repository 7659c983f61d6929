"""Protobuf <-> rollout records at the gRPC edge, and the request's validation.

A `CreateRolloutRequest` becomes a `RolloutSpec` through the same pydantic model the
store keeps, so a refusal names the request's own field (`steps: ...`, `gates.max_ks:
...`). Unset gate fields (0) take the fleet's defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.config import ConfigError, parse_document
from fleet.errors import InvalidRequestError
from fleet.models.records import ModelStatus
from fleet.rollouts import machine, plan
from fleet.rollouts.records import (
    FAILED,
    HEALTHY,
    SKIPPED,
    UPDATING,
    Rollout,
    RolloutDevice,
)
from fleet.rollouts.settings import GateSettings, RolloutSpec
from fleet.services.convert import ts
from fleet.store.records import Device
from proto.oko.v1 import rollouts_pb2 as pb

_GATE_FIELDS = tuple(GateSettings.model_fields)


def _gates(msg: pb.GateSettings, defaults: GateSettings) -> dict[str, Any]:
    """The request's gate fields over the defaults: 0 = unset (max_restarts: presence)."""
    out = defaults.model_dump()
    for name in _GATE_FIELDS:
        if name == "max_restarts":
            if msg.HasField("max_restarts"):
                out[name] = msg.max_restarts
            continue
        value = getattr(msg, name)
        if value:
            out[name] = value
    return out


def spec_from_request(req: pb.CreateRolloutRequest, defaults: GateSettings) -> RolloutSpec:
    """The validated spec; InvalidRequestError naming every bad field otherwise."""
    data: dict[str, Any] = {
        "model_name": req.model_name,
        "model_version": req.model_version,
        "selector": req.selector,
        "canary_percent": req.canary_percent,
        "steps": list(req.steps),
        "interval_seconds": req.interval_seconds,
        "max_failure_percent": req.max_failure_percent,
        "gates": _gates(req.gates, defaults),
        "note": req.note,
    }
    if req.HasField("baseline_seconds"):
        data["baseline_seconds"] = req.baseline_seconds
    try:
        return parse_document(RolloutSpec, data, "CreateRolloutRequest")
    except ConfigError as err:
        raise InvalidRequestError(str(err)) from None


def gates_to_proto(gates: GateSettings) -> pb.GateSettings:
    """Every threshold in force."""
    return pb.GateSettings(**gates.model_dump())


def _device(
    d: RolloutDevice, device: Device | None, status: ModelStatus | None, online: bool
) -> pb.RolloutDevice:
    running = status.running if status is not None else None
    return pb.RolloutDevice(
        device_id=d.device_id,
        name=device.name if device else "",
        position=d.position,
        step=d.step,
        verdict=d.verdict,
        reason=d.reason,
        assigned_at=ts(d.assigned_us),
        running_at=ts(d.running_us),
        previous_model=d.previous.label if d.previous.name else "",
        gates=[pb.GateResult(gate=g.gate, verdict=g.verdict, reason=g.reason) for g in d.gates],
        rolled_back_at=ts(d.rollback_us),
        model_state=status.state if status else "",
        running_model=running.label if running else "",
        online=online,
    )


def _progress(rollout: Rollout, devices: Sequence[RolloutDevice]) -> list[pb.RolloutStep]:
    sizes = plan.batch_sizes(len(devices), rollout.spec.percents)
    out = []
    for index, (percent, size) in enumerate(zip(rollout.spec.percents, sizes, strict=True)):
        counts = machine.progress(devices, index)
        out.append(
            pb.RolloutStep(
                index=index,
                name=machine.step_name(index),
                percent=percent,
                boxes=size,
                updating=counts[UPDATING],
                healthy=counts[HEALTHY],
                failed=counts[FAILED],
                skipped=counts[SKIPPED],
                current=index == rollout.step and not rollout.terminal,
            )
        )
    return out


def _back(d: RolloutDevice, status: ModelStatus | None) -> bool:
    """Whether a given-back box reports running its previous model again."""
    if status is None or not d.rollback_us or not d.previous.name:
        return False
    r = status.running
    return (r.name, r.version) == (d.previous.name, d.previous.version)


def rollout_to_proto(
    rollout: Rollout,
    devices: Sequence[RolloutDevice],
    *,
    names: dict[str, Device] | None = None,
    statuses: dict[str, ModelStatus] | None = None,
    online: frozenset[str] = frozenset(),
    with_devices: bool = True,
) -> pb.Rollout:
    """The operator's view: spec, state, per-step progress and (optionally) every box."""
    spec, names, statuses = rollout.spec, names or {}, statuses or {}
    msg = pb.Rollout(
        rollout_id=rollout.rollout_id,
        model_name=spec.model_name,
        model_version=spec.model_version,
        selector=spec.selector,
        state=rollout.state,
        step=rollout.step,
        reason=rollout.reason,
        canary_percent=spec.canary_percent,
        steps=list(spec.steps),
        interval_seconds=spec.interval_seconds,
        max_failure_percent=spec.max_failure_percent,
        baseline_seconds=spec.baseline_seconds,
        gates=gates_to_proto(spec.gates),
        note=spec.note,
        created_at=ts(rollout.created_us),
        created_by=rollout.created_by,
        updated_at=ts(rollout.updated_us),
        step_started_at=ts(rollout.step_started_us),
        finished_at=ts(rollout.finished_us),
        progress=_progress(rollout, devices),
        boxes=len(devices),
        updated=sum(d.updated for d in devices),
        healthy=sum(d.verdict == HEALTHY for d in devices),
        failed=sum(d.verdict == FAILED for d in devices),
        given_back=sum(bool(d.rollback_us) for d in devices),
        back_on_previous=sum(_back(d, statuses.get(d.device_id)) for d in devices),
    )
    if with_devices:
        msg.devices.extend(
            _device(d, names.get(d.device_id), statuses.get(d.device_id), d.device_id in online)
            for d in devices
        )
    return msg

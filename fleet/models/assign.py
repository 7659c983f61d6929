"""Which model each box runs: assignments, rollbacks, and the boxes' reports. The contract.

This is what okoctl's `model assign/rollback/status` and the rollout engine build on
(/work/wt/CONTRACT-models.md has the summary):

* `assign_model(app, device_ids, name, version, actor)` stores, in one transaction, a new
  assignment per device for the slot (default "detector"), each with an `assignment_id`
  one above the device's previous one, audits it, and sends it at once to every device that
  is connected (`FleetMessage.models`); the others get it right after their next Hello.
  Raises NotFoundError (unknown model version or device), InvalidRequestError (revoked
  device, bad slot, a model whose task does not fit the slot, too many devices).
* `rollback_model(app, device_ids, actor)` assigns each device the `previous` model its
  last report named (the box kept that copy, so nothing is downloaded; it may be the
  model shipped with the agent). InvalidRequestError when a device reported no previous.
* `model_status(store, device_id)` / `model_statuses(store, device_ids)` read the slot:
  the assignment joined with the box's last `ModelReport`. `state` is "pending" until the
  box reports on the current assignment, then downloading / verifying / warming / running
  / failed / rolled_back (fleet.models.records); `error` says why it failed.
* `record_report(app, device_id, report)` is called by the agent stream for every
  validated `ModelReport`; it stores it (last one per slot wins) and logs failures.

Boxes move through the states themselves; the fleet never infers success: "running"
means the box said it swapped the assigned model in and its warm-up passed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from fleet.app import FleetApp, now_us
from fleet.errors import InvalidRequestError, NotFoundError
from fleet.models import wire
from fleet.models.records import (
    DETECTOR_SLOT,
    FAILED,
    PENDING,
    ROLLED_BACK,
    SLOTS,
    Assignment,
    ModelReportRecord,
    ModelStatus,
    ModelVersion,
)
from fleet.redaction import mask_text
from fleet.store.base import Store
from fleet.store.records import REVOKED, Device
from proto.oko.v1 import models_pb2

log = logging.getLogger(__name__)

MAX_DEVICES_PER_CALL = 10_000
#: The task a model must have to run in each slot.
SLOT_TASKS = {DETECTOR_SLOT: "object-detection"}


@dataclass(frozen=True)
class AssignResult:
    """A stored assignment, and whether the device was connected and got it at once."""

    assignment: Assignment
    delivered: bool


def check_slot(slot: str) -> str:
    """The slot name, or InvalidRequestError naming the known ones."""
    if slot not in SLOTS:
        raise InvalidRequestError(f"slot: {slot!r} is not one of {list(SLOTS)}")
    return slot


async def _devices(store: Store, device_ids: Sequence[str]) -> list[str]:
    ids = list(dict.fromkeys(device_ids))
    if not ids:
        raise InvalidRequestError("device_ids: name at least one device")
    if len(ids) > MAX_DEVICES_PER_CALL:
        raise InvalidRequestError(f"device_ids: at most {MAX_DEVICES_PER_CALL} per call")
    known = {d.device_id: d for d in await store.list_devices()}  # one read for thousands
    for device_id in ids:
        device = known.get(device_id)
        if device is None:
            raise NotFoundError(f"device {device_id!r} not found")
        if device.status == REVOKED:
            raise InvalidRequestError(f"device {device_id} is revoked")
    return ids


async def get_version(store: Store, name: str, version: str) -> ModelVersion:
    """The stored version, or NotFoundError naming it."""
    found = await store.get_model_version(name, version)
    if found is None:
        raise NotFoundError(f"model {name}@{version} not found (okoctl model list)")
    return found


async def _store_and_send(
    app: FleetApp, wanted: list[Assignment], actor: str
) -> list[AssignResult]:
    stored = await app.store.put_assignments(wanted)
    app.metrics.models.assigned.inc(len(stored))
    results = []
    for item in stored:
        await app.audit(
            actor,
            "model.rollback" if item.rollback else "model.assign",
            item.device_id,
            f"{item.slot}={item.name}@{item.version} #{item.assignment_id}",
        )
        results.append(AssignResult(item, await send_assignment(app, item)))
    log.info(
        "%s assigned %s to %d device(s), %d connected",
        actor,
        ", ".join(sorted({f"{a.name}@{a.version}" for a in stored})),
        len(stored),
        sum(r.delivered for r in results),
    )
    return results


async def assign_model(
    app: FleetApp,
    device_ids: Sequence[str],
    name: str,
    version: str,
    actor: str,
    *,
    slot: str = DETECTOR_SLOT,
) -> list[AssignResult]:
    """Assign name@version to each device's `slot`; connected devices get it now."""
    check_slot(slot)
    model = await get_version(app.store, name, version)
    task = wire.manifest_task(model)
    if task != SLOT_TASKS[slot]:
        raise InvalidRequestError(
            f"model {name}@{version} is a {task} model, slot {slot} needs {SLOT_TASKS[slot]}"
        )
    ids = await _devices(app.store, device_ids)
    at = now_us()
    wanted = [Assignment(d, slot, name, version, 0, at, actor, model.sha256) for d in ids]
    return await _store_and_send(app, wanted, actor)


async def rollback_model(
    app: FleetApp, device_ids: Sequence[str], actor: str, *, slot: str = DETECTOR_SLOT
) -> list[AssignResult]:
    """Assign each device the previous model it reported keeping (no download needed)."""
    check_slot(slot)
    ids = await _devices(app.store, device_ids)
    at = now_us()
    wanted = []
    for device_id in ids:
        status = await model_status(app.store, device_id, slot)
        previous = status.report.previous if status.report else None
        if not previous:
            raise InvalidRequestError(f"device {device_id} reported no previous {slot} model")
        wanted.append(
            Assignment(
                device_id,
                slot,
                previous.name,
                previous.version,
                0,
                at,
                actor,
                previous.sha256,
                True,
            )
        )
    return await _store_and_send(app, wanted, actor)


def _status(
    device_id: str, slot: str, assignment: Assignment | None, report: ModelReportRecord | None
) -> ModelStatus:
    if assignment is None:
        state = report.state if report is not None else PENDING
    elif report is None or report.assignment_id != assignment.assignment_id:
        state = PENDING
    else:
        state = report.state
    return ModelStatus(device_id, slot, assignment, report, state)


async def model_status(store: Store, device_id: str, slot: str = DETECTOR_SLOT) -> ModelStatus:
    """One device's slot: assignment + last report (state "pending" until it reports)."""
    statuses = await model_statuses(store, [device_id], slot)
    return statuses[0]


async def model_statuses(
    store: Store, device_ids: Sequence[str] = (), slot: str = DETECTOR_SLOT
) -> list[ModelStatus]:
    """`model_status` of each device (every device with an assignment or report if empty).

    Two reads in all, whatever the number of devices, so a rollout engine polling a
    thousand boxes costs the store little.
    """
    check_slot(slot)
    assignments = {(a.device_id, a.slot): a for a in await store.get_assignments()}
    reports = {(d, r.slot): r for d, r in await store.get_model_reports()}
    ids = list(device_ids) or sorted(
        {d for d, s in assignments.keys() | reports.keys() if s == slot}
    )
    return [_status(d, slot, assignments.get((d, slot)), reports.get((d, slot))) for d in ids]


async def record_report(app: FleetApp, device_id: str, report: ModelReportRecord) -> None:
    """Store a box's validated report (the last one per slot wins) and log refusals."""
    await app.store.record_model_report(device_id, report)
    app.metrics.models.reports.labels(state=report.state).inc()
    if report.state in (FAILED, ROLLED_BACK):
        log.warning(
            "%s %s %s: %s (running %s)",
            device_id,
            report.slot,
            report.state,
            mask_text(report.error),
            report.running.label,
        )


async def send_assignment(app: FleetApp, assignment: Assignment) -> bool:
    """Queue the assignment on the device's stream if it is connected; whether it was.

    A device connected to another replica gets it from that replica (`models` notice).
    """
    session = app.sessions.get(assignment.device_id)
    if session is None:
        return await app.replication.models_changed(assignment.device_id, assignment.slot)
    session.send(await wire.assignment_message(app.store, assignment))
    return True


async def send_current(app: FleetApp, device_id: str) -> int:
    """After a Hello: send every current assignment of the device; how many."""
    assignments = await app.store.get_assignments(device_id)
    for assignment in assignments:
        await send_assignment(app, assignment)
    return len(assignments)


def attach(app: FleetApp) -> None:
    """Hook the model slot into every box's stream (`fleet.services.agent`).

    After each Welcome the device's current assignments are sent; each `model_report`
    a box sends is checked (`wire.check_report`: an out-of-bounds field ends that box's
    stream naming it) and recorded.
    """

    async def on_connect(device_id: str) -> None:
        await send_current(app, device_id)

    async def on_report(device: Device, report: models_pb2.ModelReport) -> None:
        wire.check_report(report)
        await record_report(app, device.device_id, wire.report_from_proto(report, now_us()))

    app.on_agent_connect.append(on_connect)
    app.agent_messages["model_report"] = on_report

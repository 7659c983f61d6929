"""The rollout's side of the model assignment contract (`fleet.models.assign`).

Assigning goes through `assign_model` (one transaction for the whole batch, audited,
pushed to connected boxes). Giving a box its previous model back names the model the
rollout recorded as running on that box before its update, as a rollback assignment:
the box uses the copy it kept, which may be the model shipped with the agent (not in the
registry). A box that refused the new model still runs that one, and the rollback
assignment replaces the refused assignment so it is never retried.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fleet.app import FleetApp
from fleet.errors import FleetError
from fleet.models import assign as model_assign
from fleet.models.records import DETECTOR_SLOT, Assignment, ModelStatus
from fleet.rollouts.records import ModelRef, Rollout, RolloutDevice

log = logging.getLogger(__name__)


async def statuses(app: FleetApp, device_ids: Sequence[str]) -> dict[str, ModelStatus]:
    """Each device's detector slot: assignment joined with its last report."""
    if not device_ids:
        return {}
    found = await model_assign.model_statuses(app.store, list(device_ids), DETECTOR_SLOT)
    return {s.device_id: s for s in found}


def running_ref(status: ModelStatus | None) -> ModelRef:
    """What the box last said it runs, as the rollout records it."""
    if status is None or not status.report or not status.report.running:
        return ModelRef()
    r = status.report.running
    return ModelRef(r.name, r.version, r.sha256, r.origin)


def is_ours(rollout: Rollout, status: ModelStatus | None) -> bool:
    """Whether the box's current assignment is this rollout's model, made by it."""
    a = status.assignment if status else None
    return (
        a is not None
        and not a.rollback
        and a.assigned_by == rollout.actor
        and (a.name, a.version) == (rollout.spec.model_name, rollout.spec.model_version)
    )


async def assign(app: FleetApp, rollout: Rollout, device_ids: Sequence[str]) -> None:
    """Assign the rollout's model to these boxes (FleetError if the contract refuses)."""
    if device_ids:
        await model_assign.assign_model(
            app,
            list(device_ids),
            rollout.spec.model_name,
            rollout.spec.model_version,
            rollout.actor,
        )


def _target(device: RolloutDevice, status: ModelStatus | None) -> ModelRef:
    """The model to give back: the one recorded before the update, else the box's kept one."""
    if device.previous.name:
        return device.previous
    report = status.report if status else None
    if report is not None and report.previous:
        p = report.previous
        return ModelRef(p.name, p.version, p.sha256, p.origin)
    return ModelRef()


async def give_back(
    app: FleetApp,
    rollout: Rollout,
    devices: Sequence[RolloutDevice],
    found: dict[str, ModelStatus],
    now_us: int,
) -> dict[str, str]:
    """Rollback assignments for these boxes; device -> why it could not be given one."""
    wanted: list[Assignment] = []
    problems: dict[str, str] = {}
    for d in devices:
        ref = _target(d, found.get(d.device_id))
        if not ref.name:
            problems[d.device_id] = "no previous model known: the box never reported one"
            continue
        wanted.append(
            Assignment(
                d.device_id,
                DETECTOR_SLOT,
                ref.name,
                ref.version,
                0,
                now_us,
                rollout.actor,
                ref.sha256,
                rollback=True,
            )
        )
    if not wanted:
        return problems
    try:
        stored = await app.store.put_assignments(wanted)
    except FleetError as err:
        return {**problems, **{a.device_id: str(err) for a in wanted}}
    for item in stored:
        await app.audit(
            rollout.actor,
            "model.rollback",
            item.device_id,
            f"{item.slot}={item.name}@{item.version} #{item.assignment_id}",
        )
        await model_assign.send_assignment(app, item)
    log.info("%s gave %d box(es) their previous model back", rollout.actor, len(stored))
    return problems

"""RolloutService: create, list, show, pause, resume and abort staged rollouts.

Contracts in proto/oko/v1/rollouts.proto. Every change is written to the hash-chained
audit log with the caller's token name; the controller's own actions are audited as
`rollout:<id>`. Changes take the controller's lock, so an operator's pause and a tick
never undo each other.
"""

from __future__ import annotations

import re
import secrets

import grpc

from fleet.app import FleetApp
from fleet.auth import Principal, Role
from fleet.errors import InvalidRequestError
from fleet.models import assign as model_assign
from fleet.models import wire as model_wire
from fleet.models.assign import SLOT_TASKS
from fleet.models.records import DETECTOR_SLOT
from fleet.rollouts import delivery, machine, plan
from fleet.rollouts import wire as rollout_wire
from fleet.rollouts.controller import RolloutController
from fleet.rollouts.records import ACTIVE, PENDING, STATES, Rollout, RolloutDevice
from fleet.rollouts.selector import parse_selector
from fleet.rollouts.settings import RolloutSettings, RolloutSpec
from fleet.services.common import Context, Guarded, guarded
from fleet.store.records import REVOKED, Device
from proto.oko.v1 import rollouts_pb2 as pb
from proto.oko.v1 import rollouts_pb2_grpc

MAX_LIST = 1000
MAX_REASON = 200
ROLLOUT_ID = re.compile(r"^ro-[0-9a-f]{12}$")


def _rollout_id(text: str) -> str:
    """The id as `rollout create` printed it; InvalidRequestError naming the field otherwise."""
    if not ROLLOUT_ID.match(text):
        raise InvalidRequestError(
            "rollout_id must be 'ro-' and 12 hex digits (okoctl rollout list)"
        )
    return text


class RolloutServicer(Guarded, rollouts_pb2_grpc.RolloutServiceServicer):
    """The RPCs of RolloutService; roles are noted in the .proto."""

    def __init__(self, app: FleetApp, controller: RolloutController) -> None:
        self.app = app
        self.access = app.access
        self.controller = controller
        self.settings: RolloutSettings = controller.settings

    async def _selected(self, spec: RolloutSpec) -> list[Device]:
        selector = parse_selector(spec.selector)
        chosen = [
            d
            for d in await self.app.store.list_devices()
            if d.status != REVOKED and selector.matches(d.site, d.labels)
        ]
        if not chosen:
            raise InvalidRequestError(f"selector: no enrolled device matches {spec.selector!r}")
        if len(chosen) > self.settings.max_devices:
            raise InvalidRequestError(
                f"selector: {len(chosen)} devices match, at most {self.settings.max_devices}"
                " per rollout (rollouts.max_devices)"
            )
        return chosen

    async def _check_model(self, spec: RolloutSpec) -> None:
        version = await model_assign.get_version(
            self.app.store, spec.model_name, spec.model_version
        )
        task = model_wire.manifest_task(version)
        if task != SLOT_TASKS[DETECTOR_SLOT]:
            raise InvalidRequestError(
                f"model_name: {spec.model} is a {task!r} model; rollouts update the detector"
            )

    async def _view(self, rollout: Rollout, with_devices: bool = True) -> pb.Rollout:
        devices = await self.app.store.rollout_devices(rollout.rollout_id)
        ids = [d.device_id for d in devices]
        names = (
            {d.device_id: d for d in await self.app.store.list_devices()} if with_devices else {}
        )
        statuses = await delivery.statuses(self.app, ids)
        online = frozenset(i for i in ids if self.app.replication.connected(i))
        return rollout_wire.rollout_to_proto(
            rollout,
            devices,
            names=names,
            statuses=statuses,
            online=online,
            with_devices=with_devices,
        )

    @guarded(Role.OPERATOR)
    async def CreateRollout(  # noqa: N802
        self, request: pb.CreateRolloutRequest, context: Context, who: Principal
    ) -> pb.Rollout:
        """Validate everything, then store the rollout pending with its ordered boxes."""
        spec = rollout_wire.spec_from_request(request, self.settings.gates)
        await self._check_model(spec)
        chosen = await self._selected(spec)
        active = await self.app.store.list_rollouts(ACTIVE, limit=self.settings.max_active + 1)
        if len(active) >= self.settings.max_active and not request.dry_run:
            raise InvalidRequestError(
                f"{len(active)} rollouts are active, at most {self.settings.max_active}"
                " (rollouts.max_active): let one finish first"
            )
        now = self.controller.clock()
        rollout_id = "ro-" + secrets.token_hex(6)
        rollout = Rollout(
            rollout_id, spec, PENDING, now, who.name, step_started_us=now, updated_us=now
        )
        order = plan.order(rollout_id, [d.device_id for d in chosen])
        devices = [RolloutDevice(rollout_id, d, i) for i, d in enumerate(order)]
        if request.dry_run:
            names = {d.device_id: d for d in chosen}
            view = rollout_wire.rollout_to_proto(rollout, devices, names=names)
            view.dry_run = True
            return view
        await self.app.store.create_rollout(rollout, devices)
        sizes = plan.batch_sizes(len(devices), spec.percents)
        await self.app.audit(
            who.name,
            "rollout.create",
            rollout_id,
            f"{spec.model} selector={spec.selector!r} boxes={len(devices)} batches={sizes}"
            f" interval={spec.interval_seconds:g}s max_failure={spec.max_failure_percent:g}%",
        )
        return await self._view(await self.app.store.get_rollout(rollout_id))

    @guarded(Role.VIEWER)
    async def ListRollouts(  # noqa: N802
        self, request: pb.ListRolloutsRequest, context: Context, who: Principal
    ) -> pb.ListRolloutsResponse:
        """Rollouts newest first, optionally of one state."""
        if request.state and request.state not in STATES:
            raise InvalidRequestError(f"state must be one of {', '.join(STATES)}")
        limit = request.limit or 50
        if limit > MAX_LIST:
            raise InvalidRequestError(f"limit must be at most {MAX_LIST}")
        states = (request.state,) if request.state else ()
        rollouts = await self.app.store.list_rollouts(states, limit)
        return pb.ListRolloutsResponse(
            rollouts=[await self._view(r, with_devices=False) for r in rollouts]
        )

    @guarded(Role.VIEWER)
    async def GetRollout(  # noqa: N802
        self, request: pb.GetRolloutRequest, context: Context, who: Principal
    ) -> pb.Rollout:
        """One rollout with every box's verdict, gate results and model state."""
        return await self._view(await self.app.store.get_rollout(_rollout_id(request.rollout_id)))

    async def _change(self, rollout_id: str, action: str, who: Principal, why: str) -> Rollout:
        _rollout_id(rollout_id)
        async with self.controller.lock:
            rollout = await self.app.store.get_rollout(rollout_id)
            now = self.controller.clock()
            changed = (machine.pause if action == "pause" else machine.resume)(
                rollout, now, who.name
            )
            devices = await self.app.store.rollout_devices(rollout_id)
            saved = await self.app.store.save_rollout(changed, devices)
        await self.app.audit(who.name, f"rollout.{action}", rollout_id, why or saved.reason)
        return saved

    @guarded(Role.OPERATOR)
    async def PauseRollout(  # noqa: N802
        self, request: pb.RolloutActionRequest, context: Context, who: Principal
    ) -> pb.Rollout:
        """No new boxes until resumed; the gates keep guarding the updated ones."""
        why = request.reason[:MAX_REASON]
        return await self._view(await self._change(request.rollout_id, "pause", who, why))

    @guarded(Role.OPERATOR)
    async def ResumeRollout(  # noqa: N802
        self, request: pb.RolloutActionRequest, context: Context, who: Principal
    ) -> pb.Rollout:
        """Continue a paused rollout; paused time does not count toward the interval."""
        why = request.reason[:MAX_REASON]
        return await self._view(await self._change(request.rollout_id, "resume", who, why))

    @guarded(Role.OPERATOR)
    async def AbortRollout(  # noqa: N802
        self, request: pb.AbortRolloutRequest, context: Context, who: Principal
    ) -> pb.Rollout:
        """Stop for good, giving updated boxes their previous model back unless kept."""
        _rollout_id(request.rollout_id)
        async with self.controller.lock:
            rollout = await self.app.store.get_rollout(request.rollout_id)
            devices = await self.app.store.rollout_devices(request.rollout_id)
            now = self.controller.clock()
            decision = machine.abort(
                rollout, devices, now, who.name, rollback=not request.keep_updated
            )
            found = await delivery.statuses(self.app, [d.device_id for d in devices])
            saved = await self.controller.carry_out(decision, found, now, was=rollout.state)
        why = request.reason[:MAX_REASON]
        await self.app.audit(
            who.name, "rollout.abort", request.rollout_id, f"{saved.reason}; {why}".rstrip("; ")
        )
        return await self._view(saved)


async def serve(app: FleetApp, server: grpc.aio.Server) -> RolloutController:
    """Register RolloutService on `server`; run the controller while holding its lease.

    With several replicas over one PostgreSQL store exactly one of them (the `rollouts`
    lease holder) moves rollouts along; every replica serves the RPCs. On SQLite the lease
    is always held.
    """
    controller = RolloutController(app, app.settings.rollouts)
    rollouts_pb2_grpc.add_RolloutServiceServicer_to_server(RolloutServicer(app, controller), server)

    async def _run(held: bool) -> None:
        if held:
            controller.start()
        else:
            await controller.stop()

    app.closers.append(controller.stop)
    await app.hold_lease("rollouts", _run)
    return controller

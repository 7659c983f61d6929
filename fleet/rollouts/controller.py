"""The rollout controller: the fleet's background task that moves rollouts along.

Every tick, for each active rollout: read its boxes' model status, heartbeats, process
starts and events (`measure`), run the gates (`gates`), let the state machine decide
(`machine`), carry out the assignments and rollbacks (`delivery`), then store the new
state. Everything it knows is in the store, so after a fleet restart it resumes where
the persisted state says (event tallies are rebuilt from the stored events).

Assignments are made before the state that records them is saved, and both are
idempotent: if the fleet dies in between, the next tick decides the same again and the
box gets the same model under a new assignment id. Operators' pause/resume/abort take
the same lock as a tick, so neither undoes the other; the store's revision check guards
against a second fleet process doing the same (run the controller on one replica).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from fleet.app import FleetApp, now_us
from fleet.errors import FleetError, VersionConflictError
from fleet.models.records import RUNNING, ModelStatus
from fleet.rollouts import delivery, gates, machine, measure
from fleet.rollouts.metrics import RolloutMetrics
from fleet.rollouts.records import (
    ACTIVE,
    FAILED,
    HEALTHY,
    PAUSED,
    ROLLED_BACK,
    SKIPPED,
    STATES,
    UPDATING,
    WAITING,
    LatencySample,
    Rollout,
    RolloutDevice,
)
from fleet.rollouts.settings import RolloutSettings
from fleet.store.records import REVOKED, Device

log = logging.getLogger(__name__)
Clock = Callable[[], int]


@dataclass(frozen=True)
class _Seen:
    """What one tick read for all of a rollout's boxes at once."""

    now: int
    samples: list[LatencySample]
    starts: dict[str, list[int]]
    changes: dict[str, list[int]]  # earlier rollouts' assignments and rollbacks per box


class RolloutController:
    """Runs every active rollout's tick; `lock` serialises it with operators' changes."""

    def __init__(
        self,
        app: FleetApp,
        settings: RolloutSettings,
        clock: Clock = now_us,
        metrics: RolloutMetrics | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.clock = clock
        self.metrics = metrics or RolloutMetrics(app.metrics.registry)
        self.lock = asyncio.Lock()
        self.started_us = clock()
        self._tallies: dict[tuple[str, str, int], measure.EventTally] = {}
        self._task: asyncio.Task[None] | None = None

    # Lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Start ticking in the background (a first tick runs at once); idempotent."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="rollouts")

    async def stop(self) -> None:
        """Stop ticking; a tick in progress is cancelled (it is safe to repeat)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except FleetError as err:  # the store was down: try again next tick
                log.warning("rollout tick failed (will retry): %s", err)
            except Exception:  # a bug must not end the controller for good
                log.exception("rollout tick failed")
            await asyncio.sleep(self.settings.tick_seconds)

    # One tick ---------------------------------------------------------------------------
    async def tick(self) -> None:
        """One pass over every active rollout."""
        started = time.perf_counter()
        active = await self.app.store.list_rollouts(ACTIVE, limit=self.settings.max_active)
        devices = {d.device_id: d for d in await self.app.store.list_devices()} if active else {}
        for rollout in active:
            async with self.lock:
                try:
                    await self.step(rollout.rollout_id, devices)
                except FleetError as err:
                    log.warning("%s: tick failed (will retry): %s", rollout.actor, err)
        await self._count_states()
        self.metrics.tick_seconds.observe(time.perf_counter() - started)

    async def _count_states(self) -> None:
        counts = dict.fromkeys(STATES, 0)
        for r in await self.app.store.list_rollouts(limit=10_000):
            counts[r.state] += 1
        for state, count in counts.items():
            self.metrics.rollouts.labels(state).set(count)

    async def step(self, rollout_id: str, devices: dict[str, Device]) -> Rollout:
        """Measure, judge, decide and act for one rollout (call with `lock` held)."""
        store = self.app.store
        rollout = await store.get_rollout(rollout_id)
        if rollout.terminal:
            return rollout
        now = self.clock()
        boxes = await store.rollout_devices(rollout_id)
        found = await delivery.statuses(self.app, [b.device_id for b in boxes])
        await self._sample_latency(rollout, boxes, devices)
        judged = await self._judge(rollout, boxes, found, devices, now)
        online = [
            b.device_id
            for b in judged
            if self.app.replication.connected(b.device_id)
            and getattr(devices.get(b.device_id), "status", REVOKED) != REVOKED
        ]
        not_ready = await self._not_ready(rollout, judged, found, now)
        decision = machine.decide(rollout, judged, now, online, not_ready)
        return await self.carry_out(decision, found, now, before=boxes, was=rollout.state)

    async def carry_out(
        self,
        decision: machine.Decision,
        found: dict[str, ModelStatus],
        now: int,
        before: list[RolloutDevice] | None = None,
        was: str = "",
    ) -> Rollout:
        """Assign, give back, then save the decision (and audit what it changed)."""
        rollout = decision.rollout
        boxes = {b.device_id: b for b in decision.devices}
        for device_id in decision.assign:
            boxes[device_id] = replace(
                boxes[device_id], previous=delivery.running_ref(found.get(device_id))
            )
        await delivery.assign(self.app, rollout, decision.assign)
        self.metrics.assigned.inc(len(decision.assign))
        back = [boxes[d] for d in decision.rollback]
        problems = await delivery.give_back(self.app, rollout, back, found, now)
        self.metrics.given_back.inc(len(back) - len(problems))
        for device_id, why in problems.items():
            boxes[device_id] = replace(boxes[device_id], reason=f"not given back: {why}")
        changed = before is None or decision.changed or list(boxes.values()) != before
        if not changed:
            return rollout
        try:
            saved = await self.app.store.save_rollout(rollout, list(boxes.values()))
        except VersionConflictError:
            if not decision.assign and not decision.rollback:
                raise
            # Someone (another replica's operator call) changed it meanwhile, after these
            # boxes were given a model: record that, so their gates watch them.
            await self._record_actions(rollout.rollout_id, boxes, decision)
            raise
        for note in decision.notes:
            log.info("%s: %s", rollout.actor, note)
            await self.app.audit(rollout.actor, "rollout.progress", rollout.rollout_id, note)
        if saved.state == ROLLED_BACK and was != ROLLED_BACK:
            self.metrics.rolled_back.inc()
        return saved

    async def _record_actions(
        self, rollout_id: str, boxes: dict[str, RolloutDevice], decision: machine.Decision
    ) -> None:
        """Store what was done to these boxes on top of the rollout's newer state."""
        current = await self.app.store.get_rollout(rollout_id)
        done = [boxes[d] for d in (*decision.assign, *decision.rollback)]
        await self.app.store.save_rollout(current, done)
        log.warning(
            "%s changed during a tick; kept the %d box(es) it had just acted on",
            current.actor,
            len(done),
        )

    async def _not_ready(
        self, rollout: Rollout, boxes: list[RolloutDevice], found: dict[str, ModelStatus], now: int
    ) -> dict[str, str]:
        """Boxes whose current model has not run long enough to be their own baseline.

        Right after an agent start or a model change (another rollout, an operator's
        assignment or rollback) the quality gate would have nothing to compare with and
        could only call the box "inconclusive": such a box is updated a little later.
        """
        waiting = [b.device_id for b in boxes if b.verdict == WAITING and not b.updated]
        if not waiting or rollout.state == PAUSED:
            return {}
        cfg = rollout.spec.gates
        need_s = cfg.settle_seconds + min(rollout.spec.interval_seconds, cfg.min_quality_seconds)
        starts = await self.app.store.device_starts(waiting)
        changes = await self.app.store.model_changes(waiting, rollout.rollout_id)
        out = {}
        for device_id in waiting:
            cuts = [*starts.get(device_id, []), *changes.get(device_id, [])]
            status = found.get(device_id)
            if status is not None and status.assignment is not None:
                cuts.append(status.assignment.assigned_us)
            last = max((c for c in cuts if c <= now), default=0)
            age = (now - last) / 1_000_000
            if last and age < need_s:
                out[device_id] = (
                    f"waiting for a baseline: its agent started or its model changed {age:.0f} s"
                    f" ago; the quality gate needs {need_s:.0f} s of it"
                )
        return out

    # Measurements -----------------------------------------------------------------------
    async def _sample_latency(
        self, rollout: Rollout, boxes: list[RolloutDevice], devices: dict[str, Device]
    ) -> None:
        samples = []
        for b in boxes:
            device = devices.get(b.device_id)
            sample = measure.latency_sample(device) if device is not None else None
            if sample is not None:
                samples.append(sample)
        if samples:
            await self.app.store.add_latency(rollout.rollout_id, samples)

    def _tally(self, rollout: Rollout, box: RolloutDevice) -> measure.EventTally:
        key = (rollout.rollout_id, box.device_id, box.assigned_us)
        tally = self._tallies.get(key)
        if tally is None:
            window = int(rollout.spec.gates.baseline_events_seconds * 1_000_000)
            tally = measure.EventTally(
                box.device_id,
                rollout.spec.model_name,
                rollout.spec.model_version,
                box.assigned_us,
                box.assigned_us - window,
                previous=(box.previous.name, box.previous.version),
            )
            self._tallies[key] = tally
        return tally

    async def _judge(
        self,
        rollout: Rollout,
        boxes: list[RolloutDevice],
        found: dict[str, ModelStatus],
        devices: dict[str, Device],
        now: int,
    ) -> list[RolloutDevice]:
        """Boxes with fresh verdicts: skip revoked or re-assigned ones, gate updated ones."""
        judged = [b.device_id for b in boxes if b.verdict in (UPDATING, HEALTHY)]
        seen = _Seen(
            now,
            await self.app.store.latency_samples(rollout.rollout_id),
            await self.app.store.device_starts(judged),
            await self.app.store.model_changes(judged, rollout.rollout_id),
        )
        out = []
        for box in boxes:
            device = devices.get(box.device_id)
            skip = _skip_reason(rollout, box, device, found.get(box.device_id))
            if skip:
                out.append(replace(box, verdict=SKIPPED, reason=skip))
            elif box.verdict in (UPDATING, HEALTHY) and device is not None:
                obs = await self._observe(rollout, box, device, found[box.device_id], seen)
                out.append(self._gate(rollout, box, obs))
            else:
                out.append(box)
        self._forget(rollout, out)
        return out

    async def _observe(
        self, rollout: Rollout, box: RolloutDevice, device: Device, status: ModelStatus, seen: _Seen
    ) -> gates.Observation:
        now = seen.now
        cfg = rollout.spec.gates
        starts = seen.starts.get(box.device_id, [])
        cuts = [*starts, *seen.changes.get(box.device_id, [])]
        tally = None
        if not any(g.gate == "quality" and g.verdict == "pass" for g in box.gates):
            tally = self._tally(rollout, box)
            await tally.catch_up(self.app.store)
            cuts.append(tally.other_until_us)
        begin = measure.baseline_start(
            box.assigned_us,
            cfg.baseline_events_seconds,
            cuts,
            device.enrolled_us,
            cfg.settle_seconds,
        )
        running_us = _swapped_at(box, status, tally, now)
        heartbeat = device.health.at_us if device.health else 0
        mine = [s for s in seen.samples if s.device_id == box.device_id]
        before, after = measure.split_latency(mine, box.assigned_us, running_us)
        return gates.Observation(
            model=rollout.spec.model,
            now_us=now,
            assigned_us=box.assigned_us,
            soak_s=rollout.spec.interval_seconds,
            model_state=status.state,
            model_error=status.error,
            running_us=running_us,
            seen_until_us=max(heartbeat, tally.last_after_us if tally else 0),
            last_heartbeat_us=heartbeat,
            watch_from_us=max(box.assigned_us, self.started_us),
            restarts=measure.restarts_after(starts, box.assigned_us),
            latency_before=before,
            latency_after=after,
            before_s=max(0.0, (box.assigned_us - begin) / 1_000_000),
            cameras=(
                tally.cameras(begin, running_us + int(cfg.settle_seconds * 1_000_000))
                if tally and running_us
                else ()
            ),
        )

    def _gate(self, rollout: Rollout, box: RolloutDevice, obs: gates.Observation) -> RolloutDevice:
        results = gates.evaluate(gates.standard_gates(rollout.spec.gates), obs, box.gates)
        verdict = gates.verdict(results)
        reason = next((f"{r.gate}: {r.reason}" for r in results if r.verdict == "fail"), "")
        if verdict == FAILED:
            for r in results:
                if r.verdict == "fail":
                    self.metrics.gate_failures.labels(r.gate).inc()
            log.warning("%s: %s failed %s", rollout.actor, box.device_id, reason)
        return replace(
            box, verdict=verdict, gates=results, running_us=obs.running_us, reason=reason
        )

    def _forget(self, rollout: Rollout, boxes: list[RolloutDevice]) -> None:
        """Drop tallies nothing will read again (decided or no longer updating)."""
        live = {
            (rollout.rollout_id, b.device_id, b.assigned_us) for b in boxes if b.verdict == UPDATING
        }
        for key in [k for k in self._tallies if k[0] == rollout.rollout_id and k not in live]:
            del self._tallies[key]


def _swapped_at(
    box: RolloutDevice, status: ModelStatus, tally: measure.EventTally | None, now: int
) -> int:
    """When the box started running the new model (0: not yet), as early as known.

    The first sighting of its "running" report can be late (reported while the fleet was
    down, sent again on reconnect): the report's own time and the capture time of the new
    model's first detection say when it really happened.
    """
    if status.state != RUNNING and not box.running_us:
        return 0
    known = [t for t in (box.running_us, tally.first_after_us if tally else 0) if t]
    report = status.report
    if report is not None and box.assigned_us <= report.at_us <= now:
        known.append(report.at_us)
    if report is not None and box.assigned_us <= report.received_us <= now:
        known.append(report.received_us)
    return min(known) if known else now


def _skip_reason(
    rollout: Rollout, box: RolloutDevice, device: Device | None, status: ModelStatus | None
) -> str:
    """Why a box leaves the rollout without counting as a failure ('' if it stays)."""
    if box.verdict in (FAILED, SKIPPED):
        return ""
    if device is None or device.status == REVOKED:
        return "revoked after its update" if box.updated else "revoked"
    if box.updated and not box.rollback_us and not delivery.is_ours(rollout, status):
        a = status.assignment if status else None
        who = f"{a.name}@{a.version} by {a.assigned_by}" if a else "its assignment removed"
        return f"re-assigned outside the rollout ({who})"
    return ""

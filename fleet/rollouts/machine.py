"""The rollout state machine: from the persisted state and fresh verdicts to what to do. Pure.

    pending --baseline--> canary --soaked--> progressing --...--> done
       |                    |                    |
       +---- pause/resume (paused) -------------+
       |                    |                    |
       +-- abort --> aborted (keep) | rolled_back (default)
                            +--- failures > max_failure --> rolled_back (automatic)

`decide` is called by the controller on every tick with the boxes' verdicts already
updated by the gates (`fleet.rollouts.gates`); it returns the new state and the boxes to
assign or give back their previous model. A box that fails is given its previous model
back at once; when the failed share of the boxes updated so far exceeds `max_failure`,
every updated box is, and the rollout ends `rolled_back`. Operators' `pause`, `resume`
and `abort` are the other transitions. Nothing here reads a clock: `now_us` comes in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from fleet.errors import VersionConflictError
from fleet.rollouts import plan
from fleet.rollouts.records import (
    ABORTED,
    ACTIVE,
    CANARY,
    DONE,
    FAILED,
    HEALTHY,
    PAUSED,
    PENDING,
    PROGRESSING,
    ROLLED_BACK,
    SKIPPED,
    UPDATING,
    WAITING,
    Rollout,
    RolloutDevice,
)

_US = 1_000_000


@dataclass(frozen=True)
class Decision:
    """What one tick decided: the new records, and the boxes to act on now."""

    rollout: Rollout
    devices: tuple[RolloutDevice, ...]
    assign: tuple[str, ...] = ()
    rollback: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what changed, for the audit log and the log

    @property
    def changed(self) -> bool:
        """Whether anything must be stored or done."""
        return bool(self.assign or self.rollback or self.notes)


def step_name(step: int) -> str:
    """'canary' for step 0, 'step N' after it."""
    return "canary" if step == 0 else f"step {step}"


def _updated(devices: Iterable[RolloutDevice]) -> list[RolloutDevice]:
    return [d for d in devices if d.updated and d.verdict != SKIPPED]


def _give_back(
    devices: dict[str, RolloutDevice], ids: Iterable[str], now_us: int
) -> tuple[str, ...]:
    """Mark boxes as given back their previous model; the ids that were not yet."""
    out = []
    for device_id in ids:
        d = devices[device_id]
        if d.updated and not d.rollback_us and d.verdict != SKIPPED:
            reason = "stopped before its gates decided" if d.verdict == UPDATING else d.reason
            devices[device_id] = replace(d, rollback_us=now_us, reason=reason)
            out.append(device_id)
    return tuple(out)


def _breach(rollout: Rollout, devices: Sequence[RolloutDevice]) -> str:
    """Why the failure budget is exceeded, or '' if it is not."""
    updated = _updated(devices)
    failed = [d for d in updated if d.verdict == FAILED]
    if not failed or len(failed) / len(updated) <= rollout.spec.max_failure:
        return ""
    first = failed[0]
    gate = next((g for g in first.gates if g.verdict == "fail"), None)
    why = f"{gate.gate}: {gate.reason}" if gate else first.reason
    return (
        f"{len(failed)} of {len(updated)} updated boxes failed (limit "
        f"{rollout.spec.max_failure * 100:g}%); {first.device_id} {why}"
    )


def _batch(rollout: Rollout, devices: dict[str, RolloutDevice]) -> list[RolloutDevice]:
    """The boxes the current step covers (cumulative), in the rollout's order."""
    size = plan.batch_sizes(len(devices), rollout.spec.percents)[rollout.step]
    return sorted(devices.values(), key=lambda d: d.position)[:size]


def _assign_batch(
    rollout: Rollout,
    devices: dict[str, RolloutDevice],
    online: frozenset[str],
    not_ready: Mapping[str, str],
    now_us: int,
) -> tuple[str, ...]:
    """Assign every box of the current step that is online, ready and not yet updated."""
    assign = []
    for d in _batch(rollout, devices):
        if d.updated or d.verdict != WAITING:
            continue
        if d.device_id in online and d.device_id not in not_ready:
            devices[d.device_id] = replace(
                d, verdict=UPDATING, step=rollout.step, assigned_us=now_us, reason=""
            )
            assign.append(d.device_id)
        elif d.device_id in online:
            devices[d.device_id] = replace(d, reason=not_ready[d.device_id])
        elif d.skipped_step != rollout.step:
            devices[d.device_id] = replace(
                d,
                skipped_step=rollout.step,
                reason=f"offline at {step_name(rollout.step)}: updated when it reconnects",
            )
    return tuple(assign)


def _step_done(rollout: Rollout, devices: dict[str, RolloutDevice], now_us: int) -> bool:
    """Every box it updated decided, the interval passed, and a canary that updated a box.

    A canary whose boxes were all offline (or not ready) has shown nothing: it waits for
    one of them rather than let the first step update many boxes untested.
    """
    if any(d.verdict == UPDATING for d in devices.values()):
        return False
    if now_us - rollout.step_started_us < rollout.spec.interval_seconds * _US:
        return False
    if rollout.step == 0:
        batch = _batch(rollout, devices)
        waiting = any(d.verdict == WAITING and not d.updated for d in batch)
        return not waiting or any(d.updated and d.step == 0 for d in batch)
    return True


def _finish(rollout: Rollout, devices: dict[str, RolloutDevice], now_us: int) -> Rollout:
    left = [d for d in devices.values() if not d.updated and d.verdict == WAITING]
    for d in left:
        devices[d.device_id] = replace(
            d, verdict=SKIPPED, reason="offline during the last step: not updated"
        )
    healthy = sum(d.verdict == HEALTHY for d in devices.values())
    reason = f"{healthy} boxes run {rollout.spec.model}" + (
        f", {len(left)} offline boxes skipped" if left else ""
    )
    return replace(rollout, state=DONE, reason=reason, finished_us=now_us, updated_us=now_us)


def _advance(
    rollout: Rollout,
    devices: dict[str, RolloutDevice],
    online: frozenset[str],
    not_ready: Mapping[str, str],
    now_us: int,
) -> tuple[Rollout, tuple[str, ...], list[str]]:
    """Start the canary after the baseline, or the next step once this one is done."""
    if rollout.state == PENDING:
        if now_us - rollout.step_started_us < rollout.spec.baseline_seconds * _US:
            return rollout, (), []
        rollout = replace(rollout, state=CANARY, step=0, step_started_us=now_us, reason="")
        assigned = _assign_batch(rollout, devices, online, not_ready, now_us)
        return rollout, assigned, ["canary started"]
    notes = []
    if _step_done(rollout, devices, now_us):
        if rollout.step == len(rollout.spec.steps):
            return _finish(rollout, devices, now_us), (), ["done"]
        rollout = replace(rollout, state=PROGRESSING, step=rollout.step + 1, step_started_us=now_us)
        percent = rollout.spec.percents[rollout.step]
        notes.append(f"{step_name(rollout.step)} started ({percent:g}%)")
    return rollout, _assign_batch(rollout, devices, online, not_ready, now_us), notes


def decide(
    rollout: Rollout,
    devices: Sequence[RolloutDevice],
    now_us: int,
    online: Iterable[str],
    not_ready: Mapping[str, str] | None = None,
) -> Decision:
    """One tick: roll back failures, stop on a breach, else start or advance steps.

    `online` boxes can be assigned; those in `not_ready` (box -> why) wait, e.g. until
    their current model has run long enough to be the quality gate's baseline.
    """
    if rollout.terminal:
        return Decision(rollout, tuple(devices))
    by_id = {d.device_id: d for d in devices}
    failed = [d.device_id for d in devices if d.verdict == FAILED]
    rollback = _give_back(by_id, failed, now_us)
    notes = [f"{d} failed: given its previous model back" for d in rollback]
    breach = _breach(rollout, list(by_id.values()))
    if breach:
        rollback += _give_back(by_id, list(by_id), now_us)
        rollout = replace(
            rollout, state=ROLLED_BACK, reason=breach, finished_us=now_us, updated_us=now_us
        )
        notes.append(f"rolled back: {breach}")
        return Decision(rollout, tuple(by_id.values()), (), rollback, tuple(notes))
    assign: tuple[str, ...] = ()
    if rollout.state != PAUSED:
        rollout, assign, more = _advance(rollout, by_id, frozenset(online), not_ready or {}, now_us)
        notes += more
    if notes or assign:
        rollout = replace(rollout, updated_us=now_us)
    return Decision(rollout, tuple(by_id.values()), assign, rollback, tuple(notes))


def pause(rollout: Rollout, now_us: int, who: str) -> Rollout:
    """Stop progress (no new boxes); the gates keep guarding updated boxes."""
    if rollout.state not in ACTIVE or rollout.state == PAUSED:
        raise VersionConflictError(
            f"rollout {rollout.rollout_id} is {rollout.state}: only a running rollout can be paused"
        )
    return replace(
        rollout,
        state=PAUSED,
        paused_from=rollout.state,
        paused_us=now_us,
        reason=f"paused by {who}",
        updated_us=now_us,
    )


def resume(rollout: Rollout, now_us: int, who: str) -> Rollout:
    """Continue where it stopped; time spent paused does not count toward the interval."""
    if rollout.state != PAUSED:
        raise VersionConflictError(
            f"rollout {rollout.rollout_id} is {rollout.state}: only a paused rollout can resume"
        )
    return replace(
        rollout,
        state=rollout.paused_from or PENDING,
        step_started_us=rollout.step_started_us + max(0, now_us - rollout.paused_us),
        paused_from="",
        paused_us=0,
        reason=f"resumed by {who}",
        updated_us=now_us,
    )


def abort(
    rollout: Rollout, devices: Sequence[RolloutDevice], now_us: int, who: str, rollback: bool
) -> Decision:
    """Stop for good; by default every updated box gets its previous model back."""
    if rollout.state not in ACTIVE:
        raise VersionConflictError(
            f"rollout {rollout.rollout_id} is already {rollout.state}: nothing to abort"
        )
    by_id = {d.device_id: d for d in devices}
    back = _give_back(by_id, list(by_id), now_us) if rollback else ()
    state = ROLLED_BACK if rollback else ABORTED
    how = "previous model re-assigned to" if rollback else "kept on the new model:"
    reason = f"aborted by {who}; {how} {len(_updated(by_id.values()))} updated boxes"
    done = replace(rollout, state=state, reason=reason, finished_us=now_us, updated_us=now_us)
    return Decision(done, tuple(by_id.values()), (), back, (reason,))


def progress(devices: Sequence[RolloutDevice], step: int) -> dict[str, int]:
    """Counts of one step's boxes by verdict (`step` = the step that updated them)."""
    counts = dict.fromkeys((UPDATING, HEALTHY, FAILED, SKIPPED), 0)
    for d in devices:
        if d.step == step and d.verdict in counts:
            counts[d.verdict] += 1
    return counts

"""The rollout state machine, batch plan, selector and spec validation: pure unit tests.

A small simulation drives `machine.decide` tick by tick with a fake clock, playing the
boxes' part (they become healthy or fail as a test says), the way the controller does
with real measurements.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from agent.config import ConfigError, parse_document
from fleet.errors import InvalidRequestError, VersionConflictError
from fleet.rollouts import machine, plan
from fleet.rollouts.records import (
    ABORTED,
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
from fleet.rollouts.selector import parse_selector
from fleet.rollouts.settings import GateSettings, RolloutSpec
from proto.oko.v1 import rollouts_pb2

S = 1_000_000
T0 = 1_800_000_000 * S


def spec(**over: object) -> RolloutSpec:
    fields: dict[str, object] = {
        "model_name": "nanodet-g",
        "model_version": "2",
        "selector": "site=north",
        "canary_percent": 10,
        "steps": (50, 100),
        "interval_seconds": 60,
        "max_failure_percent": 10,
        "baseline_seconds": 30,
    }
    fields.update(over)
    return RolloutSpec.model_validate(fields)


def new_rollout(n: int, **over: object) -> tuple[Rollout, list[RolloutDevice]]:
    rollout = Rollout("ro-1", spec(**over), PENDING, T0, "alice", step_started_us=T0)
    ids = plan.order("ro-1", [f"dev-{i:02d}" for i in range(n)])
    return rollout, [RolloutDevice("ro-1", d, i) for i, d in enumerate(ids)]


class Sim:
    """Ticks the machine; `judge` plays the gates for every updating box."""

    def __init__(self, rollout: Rollout, devices: list[RolloutDevice]) -> None:
        self.rollout, self.devices, self.now = rollout, devices, T0
        self.online = {d.device_id for d in devices}
        self.assigned: list[str] = []
        self.rolled_back: list[str] = []
        self.notes: list[str] = []

    def tick(self, seconds: float, judge: Callable[[RolloutDevice], str] = lambda d: HEALTHY):
        self.now += int(seconds * S)
        judged = [
            replace(d, verdict=judge(d)) if d.verdict in (UPDATING, HEALTHY) else d
            for d in self.devices
        ]
        decision = machine.decide(self.rollout, judged, self.now, self.online)
        self.rollout, self.devices = decision.rollout, list(decision.devices)
        self.assigned += decision.assign
        self.rolled_back += decision.rollback
        self.notes += decision.notes
        return decision

    def by_verdict(self, verdict: str) -> list[str]:
        return [d.device_id for d in self.devices if d.verdict == verdict]


def test_a_healthy_rollout_goes_canary_steps_done_in_order_and_waits_the_interval() -> None:
    sim = Sim(*new_rollout(20))
    assert sim.tick(10).assign == () and sim.rollout.state == PENDING  # baseline 30 s
    canary = sim.tick(25).assign
    assert sim.rollout.state == CANARY and len(canary) == 2  # 10 % of 20
    order = [d.device_id for d in sorted(sim.devices, key=lambda d: d.position)]
    assert list(canary) == order[:2]  # the first boxes of the deterministic order
    # Boxes still updating hold the step, whatever the time.
    assert sim.tick(120, judge=lambda d: UPDATING).assign == ()
    assert sim.rollout.state == CANARY
    step1 = sim.tick(1).assign  # healthy, interval elapsed
    assert sim.rollout.state == PROGRESSING and sim.rollout.step == 1
    assert list(step1) == order[2:10]
    assert sim.tick(30).assign == ()  # healthy but the interval has not elapsed
    assert list(sim.tick(31).assign) == order[10:]
    sim.tick(61)
    assert sim.rollout.state == DONE and sim.rollout.reason == "20 boxes run nanodet-g@2"
    assert sim.assigned == order and sim.rolled_back == []
    assert sim.notes == ["canary started", "step 1 started (50%)", "step 2 started (100%)", "done"]
    assert sim.tick(100).changed is False  # terminal: nothing happens any more


def test_a_failing_canary_rolls_back_every_updated_box_and_stops() -> None:
    sim = Sim(*new_rollout(20))
    sim.tick(31)
    canary = set(sim.assigned)
    decision = sim.tick(5, judge=lambda d: FAILED if d.device_id == min(canary) else UPDATING)
    assert decision.rollback and sim.rollout.state == ROLLED_BACK
    assert set(decision.rollback) == canary  # 1 failed of 2 updated > 10 %: all given back
    assert all(d.rollback_us == sim.now for d in sim.devices if d.device_id in canary)
    assert sim.rollout.reason.startswith("1 of 2 updated boxes failed (limit 10%)")
    assert len(sim.assigned) == 2  # nobody else was touched


def test_failures_within_budget_are_given_back_alone_and_the_rollout_goes_on() -> None:
    sim = Sim(*new_rollout(40, max_failure_percent=10, canary_percent=10, steps=(100,)))
    sim.tick(31)
    assert len(sim.assigned) == 4
    sim.tick(61)  # canary healthy -> step 1: all 40
    assert len(sim.assigned) == 40
    unlucky = sim.assigned[10:13]  # 3 of 40 = 7.5 % <= 10 %
    decision = sim.tick(5, judge=lambda d: FAILED if d.device_id in unlucky else UPDATING)
    assert set(decision.rollback) == set(unlucky) and sim.rollout.state == PROGRESSING
    sim.tick(61)
    assert sim.rollout.state == DONE and sorted(sim.by_verdict(FAILED)) == sorted(unlucky)
    assert sim.rollout.reason == "37 boxes run nanodet-g@2"
    # A fourth failure would have crossed the budget: 4/40 = 10 % is still within, 5 is not.
    sim2 = Sim(*new_rollout(40, max_failure_percent=10, canary_percent=10, steps=(100,)))
    sim2.tick(31)
    sim2.tick(61)
    five = sim2.assigned[:5]
    sim2.tick(5, judge=lambda d: FAILED if d.device_id in five else UPDATING)
    assert sim2.rollout.state == ROLLED_BACK and len(sim2.rolled_back) == 40


def test_offline_boxes_wait_for_a_later_step_and_are_skipped_at_the_end() -> None:
    rollout, devices = new_rollout(10, canary_percent=20, steps=(100,))
    sim = Sim(rollout, devices)
    first = [d.device_id for d in sorted(devices, key=lambda d: d.position)]
    sim.online -= {first[0], first[5]}
    sim.tick(31)
    assert sim.assigned == [first[1]]  # canary = 2 boxes; the offline one waits
    waiting = next(d for d in sim.devices if d.device_id == first[0])
    assert waiting.verdict == WAITING and "offline at canary" in waiting.reason
    sim.online.add(first[0])  # back during the canary: updated at once
    sim.tick(1)
    assert sim.assigned == [first[1], first[0]]
    sim.tick(61)  # step 1: everyone online
    sim.tick(61)
    assert sim.rollout.state == DONE
    skipped = next(d for d in sim.devices if d.device_id == first[5])
    assert skipped.verdict == SKIPPED and "offline during the last step" in skipped.reason
    assert sim.rollout.reason == "9 boxes run nanodet-g@2, 1 offline boxes skipped"


def test_pause_holds_progress_but_not_safety_and_resume_discounts_the_pause() -> None:
    sim = Sim(*new_rollout(20))
    sim.tick(31)
    sim.rollout = machine.pause(sim.rollout, sim.now, "bob")
    assert sim.rollout.state == PAUSED and sim.rollout.reason == "paused by bob"
    assert sim.tick(600).assign == ()  # healthy and long past the interval: still no step
    sim.rollout = machine.resume(sim.rollout, sim.now, "bob")
    assert sim.rollout.state == CANARY
    assert sim.tick(59).assign == ()  # paused at once: 59 s of the 60 s interval count
    assert len(sim.tick(1).assign) == 8
    sim.rollout = machine.pause(sim.rollout, sim.now, "bob")
    sim.tick(5, judge=lambda d: FAILED)  # a breach while paused still rolls back
    assert sim.rollout.state == ROLLED_BACK and len(sim.rolled_back) == 10
    with pytest.raises(VersionConflictError, match="only a paused rollout can resume"):
        machine.resume(sim.rollout, sim.now, "bob")
    with pytest.raises(VersionConflictError, match="only a running rollout can be paused"):
        machine.pause(sim.rollout, sim.now, "bob")


def test_abort_rolls_back_by_default_or_keeps_the_updated_boxes() -> None:
    for rollback, state in ((True, ROLLED_BACK), (False, ABORTED)):
        sim = Sim(*new_rollout(20))
        sim.tick(31)
        decision = machine.abort(sim.rollout, sim.devices, sim.now, "carol", rollback)
        assert decision.rollout.state == state and decision.rollout.finished_us == sim.now
        assert len(decision.rollback) == (2 if rollback else 0)
        assert decision.rollout.reason.startswith("aborted by carol")
        with pytest.raises(VersionConflictError, match="already"):
            machine.abort(decision.rollout, decision.devices, sim.now, "carol", rollback)


def test_skipped_boxes_do_not_count_toward_the_failure_budget() -> None:
    sim = Sim(*new_rollout(20, max_failure_percent=0))
    sim.tick(31)
    gone = sim.assigned[0]
    sim.devices = [
        replace(d, verdict=SKIPPED, reason="revoked after its update") if d.device_id == gone else d
        for d in sim.devices
    ]
    sim.tick(61)
    assert sim.rollout.state == PROGRESSING and gone not in sim.rolled_back


# Plan ---------------------------------------------------------------------------------
def test_batch_sizes_are_cumulative_ceilings_with_at_least_one_box() -> None:
    assert plan.batch_sizes(100, (5, 25, 50, 100)) == [5, 25, 50, 100]
    assert plan.batch_sizes(3, (5, 25, 50, 100)) == [1, 1, 2, 3]
    assert plan.batch_sizes(7, (10, 100)) == [1, 7]
    assert plan.batch_sizes(1, (50, 100)) == [1, 1]
    assert plan.batch_sizes(0, (5, 100)) == [0, 0]
    assert plan.batch_sizes(200, (0.5, 100)) == [1, 200]


def test_order_is_deterministic_per_rollout_and_differs_between_rollouts() -> None:
    ids = [f"dev-{i}" for i in range(50)]
    assert plan.order("ro-a", ids) == plan.order("ro-a", reversed(ids))
    assert plan.order("ro-a", ids)[:5] != plan.order("ro-b", ids)[:5]
    assert sorted(plan.order("ro-a", ids)) == sorted(ids)


# Selector -----------------------------------------------------------------------------
def test_selector_matches_site_and_labels() -> None:
    sel = parse_selector("site=north, role = gate,tier!=test")
    assert str(sel) == "site=north,role=gate,tier!=test"
    assert sel.matches("north", {"role": "gate"})
    assert not sel.matches("north", {"role": "gate", "tier": "test"})
    assert not sel.matches("south", {"role": "gate"})
    assert parse_selector("*").matches("anything", {})
    assert parse_selector("site==north").matches("north", {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "selector is required"),
        ("site", "selector term 1 ('site'): expected key=value"),
        ("site=north,=x", "selector term 2 ('=x'): key must be"),
        ("site=no rth", "selector term 1 ('site=no rth'): value must be"),
        ("site=a,site=b", "selector names 'site' twice"),
        (",".join(f"k{i}=v" for i in range(17)), "selector has 17 terms, at most 16"),
        ("x" * 1001, "at most 1000 characters"),
    ],
)
def test_selector_refusals_name_the_term(text: str, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_selector(text)


# Spec validation ----------------------------------------------------------------------
def _refusal(**over: object) -> str:
    base = spec().model_dump()
    base.update(over)
    with pytest.raises(ConfigError) as err:
        parse_document(RolloutSpec, base, "request")
    return str(err.value)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"canary_percent": 0}, "canary_percent: Input should be greater than 0"),
        ({"canary_percent": 60}, "canary_percent: Input should be less than or equal to 50"),
        ({"canary_percent": float("nan")}, "canary_percent"),
        ({"steps": (50, 40, 100)}, "steps: Value error, steps must increase: 40 after 50"),
        ({"steps": (50, 90)}, "steps: Value error, steps must end at 100, not 90"),
        ({"steps": ()}, "steps: Tuple should have at least 1 item"),
        ({"steps": (5, 100), "canary_percent": 5}, "the first step (5) must exceed canary_percent"),
        ({"steps": (50, 150)}, "step 2 (150) must be in (0, 100]"),
        ({"interval_seconds": 0}, "interval_seconds: Input should be greater than or equal to 1"),
        ({"max_failure_percent": 51}, "max_failure_percent: Input should be less than or equal"),
        ({"model_version": "2 beta"}, "model_version: Value error, must be 1-64 of letters"),
        ({"gates": {"max_ks": 2}}, "gates.max_ks: Input should be less than or equal to 1"),
        ({"gates": {"alpha": 0.001, "interim_alpha": 0.01}}, "interim_alpha must not exceed"),
        ({"gates": {"bogus": 1}}, "gates.bogus: Extra inputs are not permitted"),
    ],
)
def test_spec_refusals_name_the_field(over: dict[str, object], message: str) -> None:
    assert message in _refusal(**over)


def test_spec_defaults_and_percents() -> None:
    s = spec(canary_percent=5, steps=(25, 50, 100))
    assert s.percents == (5, 25, 50, 100) and s.model == "nanodet-g@2"
    assert s.gates.alpha == 0.01 and s.max_failure == pytest.approx(0.1)


def test_the_wire_gate_settings_carry_every_threshold() -> None:
    """Each pydantic threshold has its protobuf field, so no request or view drops one."""
    wire = set(rollouts_pb2.GateSettings.DESCRIPTOR.fields_by_name)
    assert wire == set(GateSettings.model_fields)


def test_a_canary_whose_boxes_are_all_away_waits_instead_of_passing_untested() -> None:
    rollout, devices = new_rollout(10, canary_percent=20, steps=(100,))
    sim = Sim(rollout, devices)
    first = [d.device_id for d in sorted(devices, key=lambda d: d.position)]
    sim.online -= {first[0]}
    not_ready = {first[1]: "baseline: its model changed 5 s ago, needs 30 s"}
    sim.now += 31 * S
    decision = machine.decide(sim.rollout, sim.devices, sim.now, sim.online, not_ready)
    sim.rollout, sim.devices = decision.rollout, list(decision.devices)
    assert decision.assign == () and sim.rollout.state == CANARY
    waiting = {d.device_id: d.reason for d in sim.devices}
    assert waiting[first[1]] == not_ready[first[1]]
    assert "offline at canary" in waiting[first[0]]
    sim.tick(600)  # long past the interval, nobody updated: the canary does not pass
    assert sim.rollout.state == CANARY and sim.assigned == [first[1]]  # ready now
    sim.tick(61)
    assert sim.rollout.state == PROGRESSING

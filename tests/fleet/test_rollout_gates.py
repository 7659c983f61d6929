"""Health gates as pure functions of one box's measurements."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from fleet.rollouts import gates
from fleet.rollouts.gates import CameraCounts, Observation
from fleet.rollouts.records import FAIL, FAILED, HEALTHY, PASS, UPDATING, WAIT, GateResult
from fleet.rollouts.settings import GateSettings

S = 1_000_000
T0 = 1_800_000_000 * S  # assignment time
CFG = GateSettings(settle_seconds=0)  # the settle time has its own test below


def obs(**over: object) -> Observation:
    """A box updated at T0, running since T0+20 s, observed at T0+100 s, soak 60 s."""
    base = Observation(
        model="nanodet-g@2",
        now_us=T0 + 100 * S,
        assigned_us=T0,
        soak_s=60,
        model_state="running",
        running_us=T0 + 20 * S,
        last_heartbeat_us=T0 + 95 * S,
        watch_from_us=T0,
        before_s=600,
    )
    return replace(base, **over)  # type: ignore[arg-type]


def scores(rng: random.Random, n: int, mean: float) -> tuple[float, ...]:
    return tuple(min(1.0, max(0.3, rng.gauss(mean, 0.1))) for _ in range(n))


# Apply --------------------------------------------------------------------------------
def test_apply_gate_fails_a_refused_model_and_a_box_that_never_runs_it() -> None:
    gate = gates.ApplyGate(CFG)
    assert gate.evaluate(obs()).verdict == PASS
    refused = gate.evaluate(obs(model_state="failed", model_error="signature invalid"))
    assert refused == GateResult("apply", FAIL, "box failed nanodet-g@2: signature invalid")
    assert gate.evaluate(obs(model_state="rolled_back")).verdict == FAIL
    slow = obs(model_state="downloading", running_us=0, now_us=T0 + 60 * S)
    assert gate.evaluate(slow).verdict == WAIT
    late = gate.evaluate(replace(slow, now_us=T0 + 901 * S))
    assert late.verdict == FAIL and "901 s after assignment" in late.reason
    assert "state downloading" in late.reason


# Crash loop ---------------------------------------------------------------------------
def test_crash_loop_gate_counts_restarts_after_the_update() -> None:
    gate = gates.CrashLoopGate(GateSettings(max_restarts=1))
    assert gate.evaluate(obs(restarts=1)).verdict == PASS
    failed = gate.evaluate(obs(restarts=2, now_us=T0 + 30 * S))  # fails before the soak ends
    assert failed.verdict == FAIL and failed.reason == "2 restarts since the update (limit 1)"
    assert gate.evaluate(obs(now_us=T0 + 30 * S)).verdict == WAIT
    assert (
        gates.CrashLoopGate(GateSettings(max_restarts=0)).evaluate(obs(restarts=1)).verdict == FAIL
    )


# Offline ------------------------------------------------------------------------------
def test_offline_gate_fails_a_silent_box_but_not_for_the_fleets_own_downtime() -> None:
    gate = gates.OfflineGate(GateSettings(offline_seconds=60))
    assert gate.evaluate(obs()).verdict == PASS
    silent = obs(last_heartbeat_us=T0 + 10 * S, now_us=T0 + 100 * S)
    failed = gate.evaluate(silent)
    assert failed.verdict == FAIL and "no heartbeat for 90 s" in failed.reason
    # The fleet restarted at T0+80 s: its own downtime is not the box's silence.
    assert gate.evaluate(replace(silent, watch_from_us=T0 + 80 * S)).verdict == PASS


# Latency ------------------------------------------------------------------------------
def test_latency_gate_needs_ratio_and_absolute_growth_and_enough_samples() -> None:
    gate = gates.LatencyGate(CFG)
    before = (10.0, 11.0, 10.5, 9.8)
    assert gate.evaluate(obs(latency_before=before, latency_after=(11, 10.9, 11.2))).verdict == PASS
    slow = gate.evaluate(obs(latency_before=before, latency_after=(25.0, 26.0, 24.0)))
    assert (
        slow.verdict == FAIL
        and slow.reason == "median 25.0 ms vs 10.2 ms before (x2.44), limit x1.5 and +5 ms"
    )
    tiny = obs(latency_before=(1.0, 1.0, 1.0), latency_after=(2.0, 2.0, 2.0))  # x2 but +1 ms
    assert gate.evaluate(tiny).verdict == PASS
    few = gate.evaluate(obs(latency_before=before, latency_after=(90.0,)))
    assert few.verdict == PASS and few.reason.startswith("inconclusive")
    assert gate.evaluate(obs(now_us=T0 + 50 * S, latency_after=(90.0,) * 5)).verdict == WAIT


# Quality ------------------------------------------------------------------------------
def test_quality_gate_fails_a_model_that_sees_nothing_before_the_soak_ends() -> None:
    """30 detections in 60 s before; none in the first 45 s on the new model."""
    gate = gates.QualityGate(CFG)
    blind = obs(now_us=T0 + 65 * S, before_s=60, cameras=(CameraCounts("cam", before=30, after=0),))
    result = gate.evaluate(blind)
    assert result.verdict == FAIL, result
    assert "cam: detection rate x0.00 (0 in 45 s vs 30 in 60 s, expected 22.5" in result.reason
    # After only 20 s on the new model: p = 2 (60/80)^30 = 3e-4, not below interim alpha.
    early = replace(blind, now_us=T0 + 40 * S)
    assert gate.evaluate(early).verdict == WAIT


def test_quality_gate_fails_a_model_that_sees_everything() -> None:
    rng = random.Random(1)
    cam = CameraCounts("cam", 40, 400, scores(rng, 40, 0.6), (1.0,) * 400)
    result = gates.QualityGate(CFG).evaluate(obs(before_s=80, cameras=(cam,)))
    assert (
        result.verdict == FAIL
        and "detection rate x10.00 (400 in 80 s vs 40 in 80 s" in result.reason
    )


def test_quality_gate_fails_a_shifted_score_distribution_at_the_same_rate() -> None:
    rng = random.Random(2)
    cam = CameraCounts("cam", 80, 80, scores(rng, 80, 0.7), scores(rng, 80, 0.4))
    result = gates.QualityGate(CFG).evaluate(obs(before_s=80, cameras=(cam,)))
    assert result.verdict == FAIL and "score distribution moved, KS D=" in result.reason


def test_quality_gate_passes_a_similar_model_after_the_soak() -> None:
    rng = random.Random(4)
    cams = (
        CameraCounts("a", 60, 70, scores(rng, 60, 0.62), scores(rng, 70, 0.6)),
        CameraCounts("b", 20, 14, scores(rng, 20, 0.55), scores(rng, 14, 0.56)),
    )
    result = gates.QualityGate(CFG).evaluate(obs(before_s=80, cameras=cams))
    assert result.verdict == PASS
    assert result.reason == "2 cameras, 84 detections in 80 s vs 80 in 80 s before"


def test_one_odd_camera_of_three_does_not_fail_the_box() -> None:
    rng = random.Random(5)
    good = [CameraCounts(c, 50, 50, scores(rng, 50, 0.6), scores(rng, 50, 0.6)) for c in "ab"]
    odd = CameraCounts("c", 50, 0)
    result = gates.QualityGate(CFG).evaluate(obs(before_s=80, cameras=(*good, odd)))
    assert result.verdict == PASS  # 1 of 3 cameras fails, camera_fail_fraction 0.5 needs 2
    strict = gates.QualityGate(GateSettings(camera_fail_fraction=0.3))
    assert strict.evaluate(obs(before_s=80, cameras=(*good, odd))).verdict == FAIL


def test_quality_gate_without_data_is_inconclusive_only_after_the_soak() -> None:
    gate = gates.QualityGate(CFG)
    short = "inconclusive: the previous model's baseline is only 0 s"
    assert gate.evaluate(obs(before_s=0)).reason == short
    assert gate.evaluate(obs(before_s=0, now_us=T0 + 30 * S)).verdict == WAIT
    assert gate.evaluate(obs(running_us=0)).verdict == WAIT
    assert gate.evaluate(obs()).verdict == PASS  # no camera saw anything on either side


# Combining ----------------------------------------------------------------------------
def test_verdict_and_frozen_statistical_gates() -> None:
    assert gates.verdict([GateResult("a", PASS, ""), GateResult("b", WAIT, "")]) == UPDATING
    assert gates.verdict([GateResult("a", PASS, ""), GateResult("b", FAIL, "")]) == FAILED
    assert gates.verdict([GateResult("a", PASS, "")]) == HEALTHY
    assert gates.verdict([]) == UPDATING
    everything = gates.standard_gates(CFG)
    healthy = gates.evaluate(everything, obs())
    assert [r.gate for r in healthy] == ["apply", "crash_loop", "offline", "latency", "quality"]
    assert gates.verdict(healthy) == HEALTHY
    # Later the box sees nothing: the quality gate decided already and stays passed, but the
    # continuous gates keep watching (a crash loop still fails it).
    later = obs(now_us=T0 + 300 * S, restarts=3, cameras=(CameraCounts("cam", 500, 0),))
    again = gates.evaluate(everything, later, frozen=healthy)
    assert {r.gate: r.verdict for r in again} == {
        "apply": PASS,
        "crash_loop": FAIL,
        "offline": FAIL,
        "latency": PASS,
        "quality": PASS,
    }


@pytest.mark.parametrize("after", [0, 3, 30, 300])
def test_gates_never_raise_on_edge_counts(after: int) -> None:
    cam = CameraCounts("cam", 0, after, (), (0.5,) * after)
    for gate in gates.standard_gates(CFG):
        assert gate.evaluate(obs(cameras=(cam,))).verdict in (PASS, FAIL, WAIT)


def test_time_the_fleet_has_not_heard_about_yet_is_not_counted() -> None:
    """A box whose link stalled 40 s ago spools its events: it is not blind."""
    stalled = obs(
        now_us=T0 + 100 * S,
        seen_until_us=T0 + 60 * S,
        before_s=60,
        cameras=(CameraCounts("cam", before=60, after=40),),
    )
    assert stalled.after_s == 40 and not stalled.soaked
    assert gates.QualityGate(CFG).evaluate(stalled).verdict == WAIT
    # Counting up to now instead would have seen 40 in 80 s against 60 in 60 s.
    assert gates.QualityGate(CFG).evaluate(replace(stalled, seen_until_us=0)).verdict == PASS


def test_the_settle_time_is_left_out_and_a_short_baseline_is_inconclusive() -> None:
    """After a swap the tracker re-finds everyone at once: that burst is not a rate."""
    gate = gates.QualityGate(GateSettings(settle_seconds=10))
    cam = CameraCounts("cam", before=60, after=70)  # counted from running_us + 10 s
    result = gate.evaluate(obs(before_s=60, cameras=(cam,)))
    assert result.verdict == PASS and "70 detections in 70 s vs 60 in 60 s" in result.reason
    # 25 s after the swap: 15 s of counted time, under min_quality_seconds (20): no decision.
    early = obs(now_us=T0 + 45 * S, before_s=60, cameras=(CameraCounts("cam", 60, 0),))
    assert gate.evaluate(early).verdict == WAIT
    # A baseline shorter than min_quality_seconds decides nothing, whatever the counts.
    tiny = obs(before_s=1, cameras=(CameraCounts("cam", before=8, after=28),))
    verdict = gate.evaluate(tiny)
    assert verdict.verdict == PASS and "baseline is only 1 s" in verdict.reason
    assert gate.evaluate(replace(tiny, now_us=T0 + 50 * S)).verdict == WAIT

"""Health gates: small pure objects from one box's measurements to pass, fail or wait.

Each gate looks at an `Observation` (what `fleet.rollouts.measure` read from the store
about one updated box) and returns a `GateResult` with a reason that quotes its numbers.
A gate passes only once the box has run the new model for the soak time (the rollout's
interval); it may fail at any moment. `verdict` combines them: any fail fails the box.

Continuous gates (apply, crash loop, offline) are re-checked for as long as the rollout
runs, also on boxes already found healthy. The statistical gates (latency, quality)
decide once, at the end of the soak, at `alpha`; before that they can only fail, at the
much stricter `interim_alpha` (a Haybittle-Peto boundary), so checking them on every tick
does not multiply false alarms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fleet.rollouts import stats
from fleet.rollouts.records import (
    FAIL,
    FAILED,
    HEALTHY,
    PASS,
    UPDATING,
    WAIT,
    GateResult,
)
from fleet.rollouts.settings import GateSettings

_US = 1_000_000
RUNNING = "running"
REFUSED = ("failed", "rolled_back")


@dataclass(frozen=True)
class CameraCounts:
    """Detections of one camera in the baseline window (old model) and since the update."""

    camera_id: str
    before: int
    after: int
    before_scores: tuple[float, ...] = ()
    after_scores: tuple[float, ...] = ()


@dataclass(frozen=True)
class Observation:
    """What the fleet knows about one updated box at `now_us`."""

    model: str  # name@version being rolled out
    now_us: int
    assigned_us: int
    soak_s: float
    model_state: str  # the model slot's state (fleet.models.records)
    model_error: str = ""
    running_us: int = 0  # when the box swapped the new model in; 0 = not yet
    seen_until_us: int = 0  # what the fleet has heard of the box reaches this far (0 = now)
    last_heartbeat_us: int = 0
    watch_from_us: int = 0  # the offline clock starts here: max(assigned, fleet start)
    restarts: int = 0  # process starts (Hello.started_at) after the assignment
    latency_before: tuple[float, ...] = ()
    latency_after: tuple[float, ...] = ()
    before_s: float = 0.0  # length of the baseline event window (settle time left out)
    cameras: tuple[CameraCounts, ...] = ()  # "after" counts from running_us + settle_seconds

    @property
    def after_s(self) -> float:
        """Seconds of the new model the fleet has heard about (0 before it runs).

        Up to `seen_until_us`, not now: a box whose link stalls spools its events, and
        counting time the fleet has not heard about yet would make it look blind.
        """
        if not self.running_us:
            return 0.0
        end = min(self.now_us, self.seen_until_us or self.now_us)
        return max(0.0, (end - self.running_us) / _US)

    @property
    def soaked(self) -> bool:
        """Whether the box has run the new model for the whole soak time."""
        return bool(self.running_us) and self.after_s >= self.soak_s


class Gate(Protocol):
    """One health check."""

    @property
    def name(self) -> str:
        """Shown with its results, and the key of its frozen result."""
        ...

    @property
    def continuous(self) -> bool:
        """Re-checked on healthy boxes (True) or decided once at the end of the soak."""
        ...

    def evaluate(self, obs: Observation) -> GateResult:
        """Pass, fail or wait, with the reason."""
        ...


def _soaking(name: str, obs: Observation) -> GateResult:
    if not obs.running_us:
        return GateResult(name, WAIT, "waiting for the box to run the new model")
    return GateResult(name, WAIT, f"soaking {obs.after_s:.0f}/{obs.soak_s:.0f} s")


@dataclass(frozen=True)
class ApplyGate:
    """The box must report running the assigned model; a refusal or a timeout fails."""

    config: GateSettings
    name: str = "apply"
    continuous: bool = True

    def evaluate(self, obs: Observation) -> GateResult:
        """Fail on a refused model or one not running within apply_timeout_seconds."""
        if obs.model_state in REFUSED:
            why = obs.model_error or "no reason given"
            return GateResult(self.name, FAIL, f"box {obs.model_state} {obs.model}: {why}")
        if obs.model_state == RUNNING:
            return GateResult(self.name, PASS, f"running {obs.model}")
        waited = (obs.now_us - obs.assigned_us) / _US
        if waited > self.config.apply_timeout_seconds:
            return GateResult(
                self.name,
                FAIL,
                f"not running {obs.model} {waited:.0f} s after assignment "
                f"(limit {self.config.apply_timeout_seconds:.0f} s, state {obs.model_state})",
            )
        return GateResult(self.name, WAIT, f"state {obs.model_state} after {waited:.0f} s")


@dataclass(frozen=True)
class CrashLoopGate:
    """More process restarts after the update than max_restarts fails (a crash loop)."""

    config: GateSettings
    name: str = "crash_loop"
    continuous: bool = True

    def evaluate(self, obs: Observation) -> GateResult:
        """Fail when the box restarted more often than allowed since its update."""
        limit = self.config.max_restarts
        if obs.restarts > limit:
            return GateResult(
                self.name, FAIL, f"{obs.restarts} restarts since the update (limit {limit})"
            )
        if not obs.soaked:
            return _soaking(self.name, obs)
        return GateResult(self.name, PASS, f"{obs.restarts} restarts since the update")


@dataclass(frozen=True)
class OfflineGate:
    """A box silent (no heartbeat) for offline_seconds after its update fails."""

    config: GateSettings
    name: str = "offline"
    continuous: bool = True

    def evaluate(self, obs: Observation) -> GateResult:
        """Fail when the last heartbeat (or the watch start) is older than offline_seconds."""
        since = max(obs.last_heartbeat_us, obs.watch_from_us, obs.assigned_us)
        silent = (obs.now_us - since) / _US
        if silent > self.config.offline_seconds:
            return GateResult(
                self.name,
                FAIL,
                f"no heartbeat for {silent:.0f} s (limit {self.config.offline_seconds:.0f} s)",
            )
        if not obs.soaked:
            return _soaking(self.name, obs)
        return GateResult(self.name, PASS, f"last heartbeat {silent:.0f} s ago")


@dataclass(frozen=True)
class LatencyGate:
    """Median detector latency after vs before: too much slower (ratio and ms) fails."""

    config: GateSettings
    name: str = "latency"
    continuous: bool = False

    def evaluate(self, obs: Observation) -> GateResult:
        """Decide at the end of the soak; too few heartbeats on either side passes, noted."""
        if not obs.soaked:
            return _soaking(self.name, obs)
        cfg = self.config
        before, after = obs.latency_before, obs.latency_after
        if len(before) < cfg.min_latency_samples or len(after) < cfg.min_latency_samples:
            return GateResult(
                self.name,
                PASS,
                f"inconclusive: {len(before)} heartbeats before, {len(after)} after "
                f"(need {cfg.min_latency_samples} each)",
            )
        mb, ma = stats.median(before), stats.median(after)
        ratio = ma / mb if mb > 0 else math.inf if ma > 0 else 1.0
        said = f"median {ma:.1f} ms vs {mb:.1f} ms before (x{ratio:.2f})"
        if ratio > cfg.max_latency_ratio and ma - mb > cfg.min_latency_increase_ms:
            return GateResult(
                self.name,
                FAIL,
                f"{said}, limit x{cfg.max_latency_ratio:g} and +{cfg.min_latency_increase_ms:g} ms",
            )
        return GateResult(self.name, PASS, said)


def judge_camera(
    cam: CameraCounts, before_s: float, after_s: float, cfg: GateSettings, alpha: float
) -> str:
    """Why this camera's detections changed significantly and beyond the bounds; '' if not."""
    rate = stats.rate_test(cam.after, after_s, cam.before, before_s)
    outside = not cfg.min_rate_ratio <= rate.ratio <= cfg.max_rate_ratio
    if rate.p_value < alpha and outside:
        return (
            f"{cam.camera_id}: detection rate x{rate.ratio:.2f} ({cam.after} in {after_s:.0f} s"
            f" vs {cam.before} in {before_s:.0f} s, expected {rate.expected_after:.1f},"
            f" p={rate.p_value:.1e})"
        )
    if min(len(cam.before_scores), len(cam.after_scores)) >= cfg.min_scores:
        ks = stats.ks_test(cam.before_scores, cam.after_scores)
        if ks.p_value < alpha and ks.statistic > cfg.max_ks:
            return (
                f"{cam.camera_id}: score distribution moved, KS D={ks.statistic:.2f}"
                f" (limit {cfg.max_ks:g}, n={ks.n_after} vs {ks.n_before}, p={ks.p_value:.1e})"
            )
    return ""


@dataclass(frozen=True)
class QualityGate:
    """Per-camera detection rate and score distribution after vs before the update.

    A box fails when at least `camera_fail_fraction` of its cameras with any detection
    (before or after) fail: a model that suddenly sees nothing, or everything.
    """

    config: GateSettings
    name: str = "quality"
    continuous: bool = False

    def _not_ready(self, obs: Observation, after_s: float) -> GateResult | None:
        """Why nothing can be decided yet (or only "inconclusive"); None to go on."""
        cfg = self.config
        need = min(obs.soak_s, cfg.min_quality_seconds)
        if not obs.running_us:
            return _soaking(self.name, obs)
        if after_s < need:
            return GateResult(
                self.name,
                WAIT,
                f"collecting: {max(0.0, after_s):.0f} of {need:.0f} s of detections"
                f" (the first {cfg.settle_seconds:g} s after the swap are left out)",
            )
        if obs.before_s < need:
            if obs.soaked:
                why = f"inconclusive: the previous model's baseline is only {obs.before_s:.0f} s"
                return GateResult(self.name, PASS, why)
            return _soaking(self.name, obs)
        return None

    def evaluate(self, obs: Observation) -> GateResult:
        """Interim: fail only at interim_alpha. End of soak: fail at alpha, else pass."""
        cfg = self.config
        after_s = obs.after_s - cfg.settle_seconds  # the burst right after the swap is left out
        early = self._not_ready(obs, after_s)
        if early is not None:
            return early
        alpha = cfg.alpha if obs.soaked else cfg.interim_alpha
        seen = [c for c in obs.cameras if c.before or c.after]
        failing = [why for c in seen if (why := judge_camera(c, obs.before_s, after_s, cfg, alpha))]
        needed = max(1, math.ceil(cfg.camera_fail_fraction * len(seen)))
        if seen and len(failing) >= needed:
            return GateResult(
                self.name, FAIL, f"{len(failing)}/{len(seen)} cameras: " + "; ".join(failing)
            )
        if not obs.soaked:
            return _soaking(self.name, obs)
        before = sum(c.before for c in seen)
        after = sum(c.after for c in seen)
        return GateResult(
            self.name,
            PASS,
            f"{len(seen)} cameras, {after} detections in {after_s:.0f} s"
            f" vs {before} in {obs.before_s:.0f} s before",
        )


def standard_gates(config: GateSettings) -> tuple[Gate, ...]:
    """Every gate of a rollout, in the order they are shown."""
    return (
        ApplyGate(config),
        CrashLoopGate(config),
        OfflineGate(config),
        LatencyGate(config),
        QualityGate(config),
    )


def verdict(results: Sequence[GateResult]) -> str:
    """FAILED if any gate failed, HEALTHY if all passed, else UPDATING."""
    if any(r.verdict == FAIL for r in results):
        return FAILED
    if results and all(r.verdict == PASS for r in results):
        return HEALTHY
    return UPDATING


def evaluate(
    gates: Sequence[Gate], obs: Observation, frozen: Sequence[GateResult] = ()
) -> tuple[GateResult, ...]:
    """Every gate's result; a non-continuous gate that passed before keeps its result.

    `frozen` holds the box's previous results: the statistical gates decide once.
    """
    kept = {r.gate: r for r in frozen if r.verdict == PASS}
    return tuple(
        kept[g.name] if not g.continuous and g.name in kept else g.evaluate(obs) for g in gates
    )

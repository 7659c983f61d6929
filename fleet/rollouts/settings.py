"""A rollout's validated request and the gates' thresholds, as bounded pydantic models.

The field names are the `oko.v1.CreateRolloutRequest` field names, so a refusal names the
field the caller sent (`canary_percent: ...`, `gates.max_ks: ...`). `RolloutSettings` is
the `rollouts` section of the fleet's settings (how often the controller looks, and the
gate thresholds a rollout gets when it names none).
"""

from __future__ import annotations

import math
import re

from pydantic import ConfigDict, Field, field_validator, model_validator

from agent.config import Section

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
MAX_STEPS = 20
MAX_INTERVAL_S = 7 * 86_400


class GateSettings(Section):
    """Thresholds of the health gates (docs/operations.md, "Rollouts")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    apply_timeout_seconds: float = Field(
        default=900.0,
        ge=10,
        le=86_400,
        description="Apply gate: a box not running the new model this long after its "
        "assignment fails (downloads on slow links take minutes).",
    )
    offline_seconds: float = Field(
        default=120.0,
        ge=15,
        le=86_400,
        description="Offline gate: an updated box with no heartbeat for this long fails "
        "(boxes send one every 10 s; time the fleet itself was down does not count).",
    )
    max_restarts: int = Field(
        default=1,
        ge=0,
        le=100,
        description="Crash-loop gate: more agent process starts than this after the "
        "update fail the box (one can be a power cut; a model swap never restarts).",
    )
    max_latency_ratio: float = Field(
        default=1.5,
        gt=1,
        le=100,
        description="Latency gate: median detector latency after / before above this "
        "fails, if it also grew by more than min_latency_increase_ms.",
    )
    min_latency_increase_ms: float = Field(
        default=5.0,
        ge=0,
        le=10_000,
        description="Latency gate: growth in ms below which a ratio is noise.",
    )
    min_latency_samples: int = Field(
        default=3,
        ge=1,
        le=10_000,
        description="Latency gate: heartbeats needed on each side; fewer passes, noted "
        "as inconclusive.",
    )
    baseline_events_seconds: float = Field(
        default=600.0,
        ge=10,
        le=86_400,
        description="Quality gate: how far back before its update a box's events form "
        "the baseline (cut at the agent's last start).",
    )
    min_quality_seconds: float = Field(
        default=20.0,
        ge=0,
        le=86_400,
        description="Quality gate: no decision before the box has run the new model this "
        "long (or the whole soak, if shorter). Detections come in bursts (a group walks "
        "in; tracks may restart at the swap), so a count over a few seconds says nothing.",
    )
    settle_seconds: float = Field(
        default=10.0,
        ge=0,
        le=600,
        description="Quality gate: detections in the first seconds after a model swap or "
        "an agent start are left out on both sides: the tracker finds everyone in view "
        "again at once then (a burst of entries that is not a detection rate).",
    )
    min_rate_ratio: float = Field(
        default=0.25,
        gt=0,
        le=1,
        description="Quality gate: a camera whose detection rate fell below this fraction "
        "of its baseline (and significantly) fails: a model that sees nothing.",
    )
    max_rate_ratio: float = Field(
        default=4.0,
        ge=1,
        le=1000,
        description="Quality gate: a detection rate above this multiple of the baseline "
        "(and significantly) fails: a model that sees everything.",
    )
    max_ks: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Quality gate: a Kolmogorov-Smirnov distance between the confidence "
        "distributions above this (and significant) fails. Measured on vtest.avi "
        "(bench/rollout_gates.py): two stretches of the same scene and model differ by "
        "~0.15, the INT8 and FP32 builds of nanodet-g on the same frames by ~0.23; a "
        "model that saturates or collapses its scores approaches 1.",
    )
    min_scores: int = Field(
        default=20,
        ge=2,
        le=100_000,
        description="Quality gate: confidences needed on each side before the KS test runs.",
    )
    alpha: float = Field(
        default=0.01,
        gt=0,
        le=0.5,
        description="Significance level of the statistical gates' one decision at the end "
        "of the soak.",
    )
    interim_alpha: float = Field(
        default=1e-5,
        gt=0,
        le=0.5,
        description="Stricter level at which they may fail earlier, checked every tick "
        "(a Haybittle-Peto boundary: repeated looks barely add false alarms).",
    )
    camera_fail_fraction: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Quality gate: share of a box's cameras (those with any detection) "
        "that must fail for the box to fail.",
    )

    @model_validator(mode="after")
    def _interim_stricter(self) -> GateSettings:
        if self.interim_alpha > self.alpha:
            raise ValueError("interim_alpha must not exceed alpha (it is the stricter level)")
        return self


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class RolloutSpec(Section):
    """What an operator asked for, validated (`okoctl rollout create`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str = Field(description="Registered model name.")
    model_version: str = Field(description="Registered model version.")
    selector: str = Field(
        min_length=1, max_length=1000, description="Boxes covered, e.g. site=north,zone=a."
    )
    canary_percent: float = Field(gt=0, le=50, description="Share of boxes in the canary.")
    steps: tuple[float, ...] = Field(
        min_length=1,
        max_length=MAX_STEPS,
        description="Cumulative shares after the canary, increasing, ending at 100.",
    )
    interval_seconds: float = Field(
        ge=1, le=MAX_INTERVAL_S, description="Soak time of every step's boxes."
    )
    max_failure_percent: float = Field(
        default=0.0,
        ge=0,
        le=50,
        description="Failed share of the boxes updated so far that stops and rolls back.",
    )
    baseline_seconds: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="Stay pending this long first, sampling heartbeats for the latency baseline.",
    )
    gates: GateSettings = Field(default_factory=GateSettings, description="Gate thresholds.")
    note: str = Field(default="", max_length=500, description="Free text kept with it.")

    @field_validator("model_name", "model_version")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("must be 1-64 of letters, digits, '_', '.', '+', '-'")
        return value

    @field_validator("canary_percent", "interval_seconds", "max_failure_percent")
    @classmethod
    def _finite_number(cls, value: float) -> float:
        return _finite(value)

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        for i, step in enumerate(value):
            if not math.isfinite(step) or not 0 < step <= 100:
                raise ValueError(f"step {i + 1} ({step:g}) must be in (0, 100]")
            if i and step <= value[i - 1]:
                raise ValueError(f"steps must increase: {step:g} after {value[i - 1]:g}")
        if value[-1] != 100:
            raise ValueError(f"steps must end at 100, not {value[-1]:g}")
        return value

    @model_validator(mode="after")
    def _canary_first(self) -> RolloutSpec:
        if self.steps[0] <= self.canary_percent:
            raise ValueError(
                f"steps: the first step ({self.steps[0]:g}) must exceed canary_percent "
                f"({self.canary_percent:g})"
            )
        return self

    @property
    def model(self) -> str:
        """`name@version`."""
        return f"{self.model_name}@{self.model_version}"

    @property
    def percents(self) -> tuple[float, ...]:
        """Cumulative percentage per step index: 0 = canary, then the steps."""
        return (self.canary_percent, *self.steps)

    @property
    def max_failure(self) -> float:
        """The failure budget as a fraction."""
        return self.max_failure_percent / 100.0


class RolloutSettings(Section):
    """How the fleet runs rollouts (the `rollouts` section of the fleet settings)."""

    tick_seconds: float = Field(
        default=5.0,
        ge=0.1,
        le=600,
        description="How often the rollout controller measures boxes and decides; gates "
        "react within a tick.",
    )
    max_devices: int = Field(
        default=50_000,
        ge=1,
        le=1_000_000,
        description="Most boxes one rollout may cover.",
    )
    max_active: int = Field(default=20, ge=1, le=1000, description="Most rollouts running at once.")
    gates: GateSettings = Field(
        default_factory=GateSettings,
        description="Thresholds a rollout gets for every gate it does not set itself.",
    )

"""Plain records of a rollout, as the store keeps them. No I/O.

Times are integer microseconds since the epoch (fleet clock), like every fleet record;
durations in the spec are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fleet.rollouts.settings import RolloutSpec

# Rollout states (docs/operations.md, "Rollouts", has the diagram).
PENDING = "pending"  # created; collecting the latency baseline before the canary
CANARY = "canary"  # the canary batch is updated and soaking
PROGRESSING = "progressing"  # a later step is updated and soaking
PAUSED = "paused"  # an operator stopped progress; gates still guard updated boxes
DONE = "done"  # every step passed
ABORTED = "aborted"  # an operator stopped it and kept the updated boxes as they are
ROLLED_BACK = "rolled_back"  # stopped; every updated box was given its previous model back
STATES = (PENDING, CANARY, PROGRESSING, PAUSED, DONE, ABORTED, ROLLED_BACK)
ACTIVE = (PENDING, CANARY, PROGRESSING, PAUSED)
TERMINAL = (DONE, ABORTED, ROLLED_BACK)

# A box's verdict within a rollout.
WAITING = "waiting"  # its step has not come yet
UPDATING = "updating"  # assigned; gates have not decided yet
HEALTHY = "healthy"  # ran the new model for the soak time and passed every gate
FAILED = "failed"  # a gate failed (sticky); the box was given its previous model back
SKIPPED = "skipped"  # not updated: offline when its step came, revoked, or re-assigned
VERDICTS = (WAITING, UPDATING, HEALTHY, FAILED, SKIPPED)

# Gate verdicts.
PASS = "pass"
FAIL = "fail"
WAIT = "wait"  # not enough observation yet


@dataclass(frozen=True)
class Rollout:
    """A rollout's persisted state; `step` is -1 while pending, 0 = canary, i = steps[i-1]."""

    rollout_id: str
    spec: RolloutSpec
    state: str
    created_us: int
    created_by: str
    step: int = -1
    step_started_us: int = 0
    updated_us: int = 0
    reason: str = ""  # why it is in its state (the failing gate, who paused...)
    paused_from: str = ""  # state to resume to
    paused_us: int = 0
    finished_us: int = 0
    revision: int = 0  # bumped by every save: the controller and operators never overwrite

    @property
    def terminal(self) -> bool:
        """Whether nothing will change any more."""
        return self.state in TERMINAL

    @property
    def actor(self) -> str:
        """Who the controller acts as in the audit log and in model assignments."""
        return f"rollout:{self.rollout_id}"


@dataclass(frozen=True)
class ModelRef:
    """A model a box ran; `origin` is "shipped" (agent package) or "fleet" (registry)."""

    name: str = ""
    version: str = ""
    sha256: str = ""
    origin: str = ""

    @property
    def label(self) -> str:
        """`name@version`, or "-" when unknown."""
        return f"{self.name}@{self.version}" if self.name else "-"


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict on one box, with the numbers behind it."""

    gate: str
    verdict: str  # PASS | FAIL | WAIT
    reason: str


@dataclass(frozen=True)
class RolloutDevice:
    """One selected box within a rollout.

    `position` is its place in the deterministic order; `step` the step that updated it
    (-1: not yet). `previous` is what it ran before, re-assigned on rollback.
    """

    rollout_id: str
    device_id: str
    position: int
    verdict: str = WAITING
    step: int = -1
    assigned_us: int = 0
    previous: ModelRef = field(default_factory=ModelRef)
    running_us: int = 0  # first time the fleet saw it run the new model
    reason: str = ""
    gates: tuple[GateResult, ...] = ()
    rollback_us: int = 0  # when its previous model was re-assigned (0: never)
    skipped_step: int = -1  # the last step that found it offline

    @property
    def updated(self) -> bool:
        """Whether the rollout assigned it the new model."""
        return self.assigned_us > 0


@dataclass(frozen=True)
class LatencySample:
    """One heartbeat's mean detector latency over the box's cameras."""

    device_id: str
    at_us: int
    inference_ms: float

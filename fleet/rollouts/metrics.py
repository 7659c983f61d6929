"""Rollout metrics, registered on the fleet's own registry (served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fleet.rollouts.records import STATES

TICK_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RolloutMetrics:
    """What the controller did: states, gate failures, assignments, rollbacks."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.rollouts = Gauge(
            "oko_fleet_rollouts", "Rollouts by state (as of the last tick)", ["state"], registry=r
        )
        for state in STATES:
            self.rollouts.labels(state)
        self.gate_failures = Counter(
            "oko_fleet_rollout_gate_failures",
            "Boxes failed by a rollout health gate, by gate",
            ["gate"],
            registry=r,
        )
        self.assigned = Counter(
            "oko_fleet_rollout_boxes_assigned", "Boxes assigned a model by a rollout", registry=r
        )
        self.given_back = Counter(
            "oko_fleet_rollout_boxes_given_back",
            "Boxes a rollout gave their previous model back",
            registry=r,
        )
        self.rolled_back = Counter(
            "oko_fleet_rollouts_rolled_back",
            "Rollouts stopped and rolled back (automatically or by an operator)",
            registry=r,
        )
        self.tick_seconds = Histogram(
            "oko_fleet_rollout_tick_seconds",
            "Duration of one controller pass over the active rollouts",
            buckets=TICK_BUCKETS_S,
            registry=r,
        )

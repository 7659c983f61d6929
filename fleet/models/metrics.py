"""Prometheus metrics of the model registry (on the fleet's registry, `FleetMetrics.models`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from fleet.models.records import STATES


class ModelFleetMetrics:
    """Pushes, bytes served to boxes, assignments and what boxes report."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.pushed = Counter("oko_fleet_models_pushed", "Model versions stored", registry=r)
        self.push_refused = Counter(
            "oko_fleet_model_pushes_refused", "Pushes refused (reason in the reply)", registry=r
        )
        self.served_bytes = Counter(
            "oko_fleet_model_bytes_served",
            "Model file bytes sent to boxes",
            registry=r,
        )
        self.assigned = Counter(
            "oko_fleet_model_assignments", "Device assignments stored (incl. rollbacks)", registry=r
        )
        self.reports = Counter(
            "oko_fleet_model_reports",
            "Model reports from boxes, by the state they report",
            ["state"],
            registry=r,
        )
        for state in STATES:
            self.reports.labels(state=state)

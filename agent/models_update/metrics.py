"""Prometheus metrics of model updates on the box (on the box's own registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ModelMetrics:
    """Downloads, refusals, swaps and rollbacks of the detector slot."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.download_bytes = Counter(
            "oko_agent_model_download_bytes", "Model bytes received from the fleet", registry=r
        )
        self.download_resumes = Counter(
            "oko_agent_model_download_resumes",
            "Download attempts that continued a partial file instead of starting over",
            registry=r,
        )
        self.refused = Counter(
            "oko_agent_model_refused", "Assigned models refused (reason in the report)", registry=r
        )
        self.swaps = Counter("oko_agent_model_swaps", "Detector swaps done", registry=r)
        self.rollbacks = Counter(
            "oko_agent_model_rollbacks", "Swaps back to the previous model", registry=r
        )
        self.state = Gauge(
            "oko_agent_model_state",
            "ModelState of the detector slot (4 running, 5 failed, 6 rolled back)",
            registry=r,
        )

"""The agent's Prometheus metrics (served with `/healthz` by `agent.pipeline.observe`).

Spool figures are read from the spool at scrape time instead of being mirrored into
gauges, so the endpoint can never disagree with the spool - including the drop counters,
which the spool persists across restarts. Uplink figures are ordinary counters updated by
the uplink client. The pipeline adds its own (inference ms, per-camera fps) to `registry`.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agent.spool import Spool

# From 1 ms to 10 s. The fleet's latency histograms use the same edges (fleet_metrics.py),
# so one dashboard panel can put the box's ack latency beside the fleet's commit latency.
LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class SpoolCollector(Collector):
    """Exports depth, bytes and the persistent drop counters of one spool."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool

    def collect(self) -> Iterator[Metric]:
        """Yield the spool's depth, size and drop counters at scrape time."""
        depth = GaugeMetricFamily(
            "oko_agent_spool_depth_events", "Events waiting for the fleet's acknowledgement."
        )
        depth.add_metric([], self._spool.depth())
        yield depth
        size = GaugeMetricFamily(
            "oko_agent_spool_bytes", "Serialized event bytes waiting in the spool."
        )
        size.add_metric([], self._spool.bytes())
        yield size
        dropped = CounterMetricFamily(
            "oko_agent_events_dropped",
            "Events dropped undelivered (full = drop policy, rejected = fleet refused).",
            labels=["camera", "reason"],
        )
        for (camera, reason), count in sorted(self._spool.drops_by_reason().items()):
            dropped.add_metric([camera, reason], count.events)
        yield dropped


class AgentMetrics:
    """All agent metrics in one private registry (tests may run several agents)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events_sent = Counter(
            "oko_agent_uplink_events_sent",
            "Events sent to the fleet (resends included).",
            ["camera"],
            registry=r,
        )
        self.bytes_sent = Counter(
            "oko_agent_uplink_sent_bytes",
            "Serialized event bytes sent, before gRPC compression (resends included).",
            ["camera"],
            registry=r,
        )
        self.events_acked = Counter(
            "oko_agent_uplink_events_acked", "Events the fleet acknowledged.", registry=r
        )
        self.duplicates = Counter(
            "oko_agent_uplink_duplicates", "Resent events the fleet already had.", registry=r
        )
        self.ack_latency = Histogram(
            "oko_agent_uplink_ack_latency_seconds",
            "From sending a batch to receiving its Ack.",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.connected = Gauge(
            "oko_agent_uplink_connected", "1 while the stream to the fleet is up.", registry=r
        )
        self.reconnects = Counter(
            "oko_agent_uplink_connect_failures",
            "Stream attempts that failed or broke.",
            ["code"],
            registry=r,
        )
        self.spool_errors = Counter(
            "oko_agent_uplink_spool_errors",
            "Stream sessions ended because the spool could not be read or written "
            "(a full disk); the uplink retries with backoff.",
            registry=r,
        )
        self.applied_version = Gauge(
            "oko_agent_config_applied_version", "Desired-state version the box runs.", registry=r
        )
        self.config_refused = Counter(
            "oko_agent_config_refused", "Desired-state documents refused as invalid.", registry=r
        )
        self.live_frames = Counter(
            "oko_agent_live_frames_sent",
            "Live-view JPEGs sent to the fleet (only while an operator's page shows them).",
            registry=r,
        )
        self.live_views = Gauge(
            "oko_agent_live_views", "Live views the fleet has open on this box.", registry=r
        )
        self.evidence = Counter(
            "oko_agent_evidence_answers",
            "The fleet's requests for an alert's face shot, by answer: sent (the JPEG left "
            "the box), unavailable (deleted after retention, never kept, too large).",
            ["outcome"],
            registry=r,
        )
        self.cert_expiry = Gauge(
            "oko_agent_certificate_expiry_timestamp_seconds",
            "When the box's device certificate expires (Unix time); 0 before enrollment.",
            registry=r,
        )
        self.cert_renewals = Counter(
            "oko_agent_certificate_renewals",
            "Certificate renewal attempts by outcome (renewed, failed, refused).",
            ["outcome"],
            registry=r,
        )

    def watch_spool(self, spool: Spool) -> None:
        """Export `spool`'s figures (call once per spool)."""
        self.registry.register(SpoolCollector(spool))

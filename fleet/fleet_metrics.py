"""Prometheus metrics of the fleet server (served on `metrics_listen` by `fleet.server`).

Each server instance owns its registry, so tests can run several servers in one process.
Per-camera gauges come from agent heartbeats; per-device spool depth and drop counts too,
so one dashboard shows both sides of the uplink.
"""

from __future__ import annotations

import time
from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fleet.models.metrics import ModelFleetMetrics
from fleet.store.records import DeviceHealth, IngestCommit

# 1 ms to 10 s; the agent's ack latency uses the same edges, so dashboards can compare them.
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class FleetMetrics:
    """All fleet metrics, plus a one-minute ingest rate for `okoctl status`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.ingested = Counter("oko_fleet_events_ingested", "Events newly stored", registry=r)
        self.duplicates = Counter(
            "oko_fleet_events_duplicate", "Resent events already stored (deduplicated)", registry=r
        )
        self.rejected = Counter(
            "oko_fleet_events_rejected", "Malformed events rejected at ingest", registry=r
        )
        self.ingest_failures = Counter(
            "oko_fleet_ingest_failed_batches",
            "Batches the store could not take for good (each logged once; the box got a reason)",
            registry=r,
        )
        self.batches = Counter("oko_fleet_batches", "Event batches acknowledged", registry=r)
        self.commit_seconds = Histogram(
            "oko_fleet_commit_seconds",
            "Duration of one group commit",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.ack_seconds = Histogram(
            "oko_fleet_ack_latency_seconds",
            "Batch received to Ack sent",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.capture_to_commit = Histogram(
            "oko_fleet_capture_to_commit_seconds",
            "Event capture time to fleet commit",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.connected = Gauge("oko_fleet_devices_connected", "Agent streams open", registry=r)
        self.subscribers = Gauge("oko_fleet_subscribers", "Subscribe streams open", registry=r)
        self.refused = Counter(
            "oko_fleet_calls_refused",
            "Calls refused by authentication or authorization",
            ["reason"],
            registry=r,
        )
        # Figures a box reports in its heartbeats, under the fleet's own prefix: the box
        # exports its own under oko_agent_*, and one name must not mean two sources.
        self.spool_depth = Gauge(
            "oko_fleet_device_spool_events",
            "Events waiting in the box's spool, as its last heartbeat said",
            ["device_id"],
            registry=r,
        )
        self.dropped = Gauge(
            "oko_fleet_device_dropped_events",
            "Events the box has dropped since it started, as its last heartbeat said",
            ["device_id"],
            registry=r,
        )
        self.camera_fps = Gauge(
            "oko_fleet_camera_frames_per_second",
            "Frames the camera processes per second, from its box's heartbeat",
            ["device_id", "camera_id"],
            registry=r,
        )
        self.inference_seconds = Gauge(
            "oko_fleet_camera_inference_seconds",
            "Mean detector latency of the camera, from its box's heartbeat",
            ["device_id", "camera_id"],
            registry=r,
        )
        self.webhook_delivered = Counter(
            "oko_fleet_webhook_delivered", "Events delivered to webhooks", registry=r
        )
        self.webhook_failures = Counter(
            "oko_fleet_webhook_failed_attempts", "Failed webhook POSTs", registry=r
        )
        self.webhook_dead = Counter(
            "oko_fleet_webhook_dead_letters", "Events given up on after all retries", registry=r
        )
        self.models = ModelFleetMetrics(r)
        self._recent: deque[tuple[float, int]] = deque()
        self._camera_series: dict[str, set[str]] = {}

    def observe_commit(self, seconds: float, commit: IngestCommit, received_us: int) -> None:
        """Record one group commit: latency, new and duplicate events, capture-to-commit delay."""
        self.commit_seconds.observe(seconds)
        new = len(commit.stored)
        self.ingested.inc(new)
        self.duplicates.inc(sum(o.duplicates for o in commit.outcomes))
        for event in commit.stored[:: max(1, new // 64)]:  # a sample is enough for a histogram
            self.capture_to_commit.observe(max(0.0, (received_us - event.capture_us) / 1e6))
        now = time.monotonic()
        self._recent.append((now, new))
        while self._recent and self._recent[0][0] < now - 60:
            self._recent.popleft()

    def ingest_rate(self) -> float:
        """Events stored per second over the last minute (or since start, if shorter)."""
        if not self._recent:
            return 0.0
        span = max(1.0, time.monotonic() - self._recent[0][0])
        return sum(n for _, n in self._recent) / span

    def observe_health(self, device_id: str, health: DeviceHealth) -> None:
        """Export a heartbeat's spool and camera figures, labelled by device and camera.

        Per-camera series are the cameras of the box's latest heartbeat (admission caps
        them at limits.max_cameras_per_device): series of cameras it stopped naming are
        removed, so renaming ids can never pile up series.
        """
        self.spool_depth.labels(device_id).set(health.spool_depth)
        self.dropped.labels(device_id).set(health.dropped_events)
        current = {cam.camera_id for cam in health.cameras}
        for gone in self._camera_series.get(device_id, set()) - current:
            self.camera_fps.remove(device_id, gone)
            self.inference_seconds.remove(device_id, gone)
        self._camera_series[device_id] = current
        for cam in health.cameras:
            self.camera_fps.labels(device_id, cam.camera_id).set(cam.fps)
            self.inference_seconds.labels(device_id, cam.camera_id).set(cam.inference_ms / 1000)

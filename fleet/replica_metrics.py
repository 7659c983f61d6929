"""Metrics of the fan-out between replicas, read when Prometheus scrapes.

`oko_fleet_replica_gap_filled_events_total` rising steadily means other replicas' events
reach this one from PostgreSQL rather than NATS (NATS down, or messages lost);
`oko_fleet_replica_unpublished_events_total` counts this replica's commits NATS did not
take (the others read those from PostgreSQL). Values are plain ints read without a
lock from the scrape thread: each read is atomic in CPython and a scrape may be a
moment behind.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fleet.bus import Bus
from fleet.sequencer import Sequencer


class ReplicaCollector(Collector):
    """Sequencer and bus counters; NATS connection state when there is a NatsBus."""

    def __init__(self, sequencer: Sequencer, bus: Bus) -> None:
        self._sequencer = sequencer
        self._bus = bus

    def collect(self) -> Iterator[Metric]:
        """Yield the counters and the connection gauge."""
        yield CounterMetricFamily(
            "oko_fleet_replica_gap_filled_events",
            "Events of other replicas read from the store because no NATS message brought them",
            value=self._sequencer.filled,
        )
        yield CounterMetricFamily(
            "oko_fleet_replica_unpublished_events",
            "Events committed here that NATS did not take (the others read them from the store)",
            value=getattr(self._bus, "dropped_events", 0),
        )
        connected = getattr(self._bus, "connected", None)
        yield GaugeMetricFamily(
            "oko_fleet_replica_nats_connected",
            "1 while this replica is connected to NATS (0 without NATS or while it is away)",
            value=1 if connected is not None and connected.is_set() else 0,
        )

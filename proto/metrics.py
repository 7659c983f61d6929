"""A small Prometheus exposition helper shared by `oko-agent` and `oko-fleet`.

Both processes expose `/metrics` the same way: their own `CollectorRegistry` (so tests can
run several in one process without name clashes), one HTTP server thread, port 0 meaning
"pick a free port" for tests. Metric names are part of the contract with dashboards,
which is why this sits beside the wire contract.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

log = logging.getLogger(__name__)

# Latency buckets in seconds, from 1 ms to 10 s: ack latency, capture-to-commit latency.
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


@dataclass
class MetricsServer:
    """A running `/metrics` endpoint; `close()` stops it."""

    host: str
    port: int
    _server: Any
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(
    registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0
) -> MetricsServer:
    """Expose `registry` over HTTP on host:port (0 = any free port) in a daemon thread."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    bound = int(server.server_address[1])
    log.info("metrics on http://%s:%s/metrics", host, bound)
    return MetricsServer(host=host, port=bound, _server=server, _thread=thread)

"""How a running box shows its state: Prometheus metrics and a JSON health endpoint.

Camera figures are read from the readers, the worker and the stages at scrape time (like the
spool's), so `/metrics` and `/healthz` can never disagree with what the pipeline counted.
Both are served from one port (`metrics.host:metrics.port` of agent.yaml): `/metrics` for
Prometheus, `/healthz` for container and systemd probes and for operators. GET and HEAD
(headers and status only) are answered; metric names follow Prometheus' conventions
(`_seconds`, `_bytes`, counters ending `_total`) and pass `promtool check metrics`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

INFERENCE_BUCKETS_S = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56)


@dataclass(frozen=True)
class CameraStatus:
    """One camera's figures at one moment (see `EdgeBox.status`)."""

    camera_id: str
    state: str  # reader state: streaming, backoff, ended, failed, ...
    fps: float  # frames handed to detection per second, last few seconds
    frames: int  # frames tracked and analysed
    skipped_inference: int  # frames the shared detector shed for this camera
    dropped_capture: int  # frames the reader replaced before anyone took them
    reconnects: int
    detector_errors: int
    events: dict[str, int]  # minted events by kind
    latency_p50_s: float  # submit -> detections, median of recent frames
    error: str | None  # last source error or pipeline crash
    substream: bool = False  # detects on its low-resolution substream, not the main stream


StatusFn = Callable[[], list[CameraStatus]]


class PipelineCollector(Collector):
    """Per-camera gauges and counters, read from the pipeline at scrape time."""

    def __init__(self, status: StatusFn) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        """Yield the per-camera metrics, read from the status function at scrape time."""
        cams = self._status()
        fps = GaugeMetricFamily(
            "oko_agent_camera_fps",
            "Frames per second handed to detection (after decimation).",
            labels=["camera"],
        )
        up = GaugeMetricFamily(
            "oko_agent_camera_up", "1 while the camera is streaming.", labels=["camera"]
        )
        frames = CounterMetricFamily(
            "oko_agent_camera_frames_processed", "Frames tracked and analysed.", labels=["camera"]
        )
        skipped = CounterMetricFamily(
            "oko_agent_camera_frames_skipped",
            "Frames never analysed: shed by the shared detector (inference) or replaced in "
            "the reader's slot (capture).",
            labels=["camera", "stage"],
        )
        reconnects = CounterMetricFamily(
            "oko_agent_camera_reconnects", "Reconnects of the camera's source.", labels=["camera"]
        )
        events = CounterMetricFamily(
            "oko_agent_events_emitted", "Events minted by kind.", labels=["camera", "kind"]
        )
        substream = GaugeMetricFamily(
            "oko_agent_camera_substream",
            "1 if the camera detects on its substream (its state and errors are then the "
            "substream's), 0 if on its main stream.",
            labels=["camera"],
        )
        for c in cams:
            fps.add_metric([c.camera_id], c.fps)
            up.add_metric([c.camera_id], 1.0 if c.state == "streaming" else 0.0)
            frames.add_metric([c.camera_id], c.frames)
            skipped.add_metric([c.camera_id, "inference"], c.skipped_inference)
            skipped.add_metric([c.camera_id, "capture"], c.dropped_capture)
            reconnects.add_metric([c.camera_id], c.reconnects)
            substream.add_metric([c.camera_id], 1.0 if c.substream else 0.0)
            for kind, n in sorted(c.events.items()):
                events.add_metric([c.camera_id, kind], n)
        yield from (fps, up, frames, skipped, reconnects, events, substream)


def inference_histogram(registry: CollectorRegistry) -> Histogram:
    """Histogram of detector call times, registered in `registry`."""
    return Histogram(
        "oko_agent_inference_seconds",
        "Wall time of one detector call (a batch of crops from all cameras).",
        buckets=INFERENCE_BUCKETS_S,
        registry=registry,
    )


def _handler(
    registry: CollectorRegistry, health: Callable[[], tuple[int, dict[str, Any]]]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(head=False)

        def do_HEAD(self) -> None:  # probes and load balancers check with HEAD
            self._answer(head=True)

        def _answer(self, head: bool) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry), head)
            elif path == "/healthz":
                code, body = health()
                self._send(code, "application/json", json.dumps(body, indent=1).encode(), head)
            else:
                self._send(404, "text/plain", b"not found: try /metrics or /healthz\n", head)

        def _send(self, code: int, ctype: str, body: bytes, head: bool) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("http: " + fmt, *args)  # noqa: G003 - the server's own format string

    return Handler


class ObserveServer:
    """`/metrics` and `/healthz` on one port in a daemon thread; port 0 picks a free one."""

    def __init__(
        self,
        registry: CollectorRegistry,
        health: Callable[[], tuple[int, dict[str, Any]]],
        host: str,
        port: int,
    ) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(registry, health))
        self._server.daemon_threads = True
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="observe", daemon=True
        )
        self._thread.start()
        log.info("metrics and health on http://%s:%s/", host, self.port)

    def close(self) -> None:
        """Stop serving, release the port and wait (up to 5 s) for the server thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def status_dict(status: CameraStatus) -> dict[str, Any]:
    """The status as a JSON-able dict, for the health endpoint."""
    return asdict(status)

"""`InferenceWorker`: the one detector thread of a box, shared fairly by all its cameras.

A 2-core box cannot run a detector per camera, and must not let a slow detector build a
queue: a backlog only makes every answer later. So each camera has a small bounded slot of
pending work; when the detector falls behind, a camera's newest frame replaces its oldest
pending one and the replaced frame is counted as skipped for that camera. The worker takes
work round-robin across cameras and batches images from several cameras into one detector
call, which is where batching pays on CPU backends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.detections import Detections

log = logging.getLogger(__name__)

DetectFn = Callable[[list[np.ndarray]], Sequence[Detections]]
ResultFn = Callable[["WorkResult"], None]
LATENCY_WINDOW = 256


@dataclass(frozen=True)
class WorkItem:
    """Images of one camera frame to detect in, with the caller's context.

    Items with no images (nothing to look at in that frame) still pass through the worker,
    so each camera's results come back in the order its frames were submitted. `reply`, if
    given, receives this item's result instead of the worker's `on_result`.
    """

    camera_id: str
    images: list[np.ndarray]
    payload: Any = None
    reply: ResultFn | None = None
    submitted: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class WorkResult:
    """Detections for a `WorkItem`: one `Detections` per image, or an error."""

    item: WorkItem
    detections: list[Detections]
    error: str | None
    latency_s: float


@dataclass(frozen=True)
class CameraStats:
    """Per-camera accounting: submitted == processed + skipped + pending + in_flight."""

    camera_id: str
    submitted: int
    processed: int
    skipped: int
    errors: int
    pending: int
    in_flight: int
    max_pending: int
    images: int
    latency_p50_s: float
    latency_p95_s: float


class _Lane:
    """One camera's bounded slot of pending items and its counters."""

    def __init__(self, capacity: int) -> None:
        self.pending: deque[WorkItem] = deque()
        self.capacity = capacity
        self.submitted = self.processed = self.skipped = self.errors = self.in_flight = 0
        self.max_pending = self.images = 0
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)


class InferenceWorker:
    """One thread that runs `detect` on batches gathered round-robin from all cameras.

    `detect(images)` must return one `Detections` per image (e.g. `ObjectDetector.detect`).
    `on_result` is called on the worker thread for every processed item, in submission order
    per camera; it should be quick (hand the result to the camera's own thread).
    """

    def __init__(
        self,
        detect: DetectFn,
        on_result: ResultFn | None = None,
        max_batch: int = 8,
        slots_per_camera: int = 1,
    ) -> None:
        if max_batch < 1 or slots_per_camera < 1:
            raise ValueError(
                f"max_batch and slots_per_camera must be >= 1, got {max_batch}, {slots_per_camera}"
            )
        self._detect = detect
        self._on_result = on_result
        self.max_batch = max_batch
        self.slots_per_camera = slots_per_camera
        self._lanes: dict[str, _Lane] = {}
        self._order: list[str] = []
        self._next = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self.batches = 0  # detector calls made

    def start(self) -> InferenceWorker:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Finish the batch in flight and end; work still pending is counted as skipped."""
        with self._cond:
            self._stopping = True
            for lane in self._lanes.values():
                lane.skipped += len(lane.pending)
                lane.pending.clear()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self) -> InferenceWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def submit(self, item: WorkItem) -> bool:
        """Queue `item`; False if that pushed out an older pending item (counted as skipped).

        Never blocks: a camera's pending work is bounded by `slots_per_camera`.
        """
        with self._cond:
            if self._stopping:
                raise RuntimeError("inference worker is stopped")
            lane = self._lanes.get(item.camera_id)
            if lane is None:
                lane = self._lanes[item.camera_id] = _Lane(self.slots_per_camera)
                self._order.append(item.camera_id)
            lane.submitted += 1
            displaced = len(lane.pending) >= lane.capacity
            if displaced:
                lane.pending.popleft()
                lane.skipped += 1
            lane.pending.append(item)
            lane.max_pending = max(lane.max_pending, len(lane.pending))
            self._cond.notify_all()
            return not displaced

    @property
    def alive(self) -> bool:
        """Whether the detector thread is running (for health checks)."""
        return self._thread.is_alive()

    def stats(self) -> dict[str, CameraStats]:
        with self._cond:
            return {cam: _snapshot(cam, lane) for cam, lane in self._lanes.items()}

    # ----- worker thread ----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or self._has_pending())
                if self._stopping:
                    return
                batch = self._take_batch()
            self._process(batch)

    def _has_pending(self) -> bool:
        return any(lane.pending for lane in self._lanes.values())

    def _take_batch(self) -> list[WorkItem]:
        """Oldest item of each camera in turn, from where the last batch stopped, until full.

        Rotating the starting camera is what makes shedding fair when a batch cannot take
        every camera: the ones left out this time go first next time.
        """
        batch: list[WorkItem] = []
        images = 0
        count = len(self._order)
        progress = True
        while progress:
            progress = False
            for step in range(count):
                cam = self._order[(self._next + step) % count]
                lane = self._lanes[cam]
                if not lane.pending:
                    continue
                size = len(lane.pending[0].images)
                if batch and images + size > self.max_batch:
                    continue
                batch.append(lane.pending.popleft())
                lane.in_flight += 1
                images += size
                progress = True
                self._next = (self._order.index(cam) + 1) % count
        return batch

    def _process(self, batch: list[WorkItem]) -> None:
        """Detect for a batch; if it fails, retry item by item so one bad frame fails alone."""
        try:
            found = self._run_detect([image for item in batch for image in item.images])
        except Exception as err:  # one bad batch must not end detection for the whole box
            if len(batch) > 1:
                for item in batch:
                    self._process([item])
                return
            log.exception("detector failed for camera %s", batch[0].camera_id)
            self._finish(batch[0], [], f"detector failed: {err!r}")
            return
        offset = 0
        for item in batch:
            n = len(item.images)
            self._finish(item, found[offset : offset + n], None)
            offset += n

    def _run_detect(self, images: list[np.ndarray]) -> list[Detections]:
        found: list[Detections] = []
        for start in range(0, len(images), self.max_batch):
            found.extend(self._detect(images[start : start + self.max_batch]))
        if len(found) != len(images):
            raise ValueError(f"detector returned {len(found)} results for {len(images)} images")
        if images:
            self.batches += 1
        return found

    def _finish(self, item: WorkItem, dets: list[Detections], error: str | None) -> None:
        result = WorkResult(item, dets, error, time.monotonic() - item.submitted)
        with self._cond:
            lane = self._lanes[item.camera_id]
            lane.in_flight -= 1
            lane.processed += 1
            lane.images += len(item.images)
            lane.errors += error is not None
            lane.latencies.append(result.latency_s)
        handler = item.reply or self._on_result
        if handler is not None:
            self._deliver(handler, result)

    def _deliver(self, handler: ResultFn, result: WorkResult) -> None:
        try:
            handler(result)
        except Exception:  # a consumer's bug must not stop other cameras' detection
            log.exception("result handler failed for camera %s", result.item.camera_id)


def _snapshot(camera_id: str, lane: _Lane) -> CameraStats:
    lat = np.asarray(lane.latencies, np.float64)
    p50, p95 = np.percentile(lat, [50, 95]).tolist() if lat.size else (0.0, 0.0)
    return CameraStats(
        camera_id=camera_id,
        submitted=lane.submitted,
        processed=lane.processed,
        skipped=lane.skipped,
        errors=lane.errors,
        pending=len(lane.pending),
        in_flight=lane.in_flight,
        max_pending=lane.max_pending,
        images=lane.images,
        latency_p50_s=round(float(p50), 4),
        latency_p95_s=round(float(p95), 4),
    )

"""`CameraPipeline`: one camera from its reader through the motion gate to the shared worker.

Each camera gets one thread that takes decimated frames from its reader, asks the motion
gate where to look, hands the crops to the box's single `InferenceWorker`, and turns the
worker's answers back into frame-pixel detections for the stages after it (tracking,
analytics). Everything after the worker runs on this camera's thread, so a slow camera
consumer delays only itself, and results reach it in frame order.

A camera with a detect substream gates and detects on the substream's frames; detections
are scaled to main-stream pixels as they come back from the worker (`agent.pipeline.coords`),
so what this hands on is in main-stream pixels either way.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.capture.frame import Frame
from agent.capture.reader import CameraHealth, CameraReader
from agent.config.camera import CameraConfig
from agent.detect.worker import CameraStats, InferenceWorker, WorkItem, WorkResult
from agent.detections import Detections
from agent.motion.gate import GatePlan, MotionGate
from agent.motion.windows import merge_window_detections
from agent.pipeline.coords import IDENTITY, Scale, gate_config, to_detect, to_main

log = logging.getLogger(__name__)

TracksFn = Callable[[], np.ndarray]
SettledFn = Callable[[], bool]


@dataclass(frozen=True)
class FrameDetections:
    """A frame and what was found in it, in main-stream pixels (`frame.event_shape`).

    A frame the gate found nothing to look at has `plan.windows` empty and no detections:
    it is still delivered, so trackers age their tracks on every frame.
    """

    frame: Frame
    plan: GatePlan
    detections: Detections
    error: str | None
    latency_s: float
    model: Any = None  # the detector that ran on this frame (the worker's tag: a ModelRef)


@dataclass(frozen=True)
class PipelineHealth:
    """Reader health, this camera's share of the worker, and gate decisions by reason."""

    camera: CameraHealth
    inference: CameraStats | None
    plans: dict[str, int]
    error: str | None


class CameraPipeline:
    """Reader -> motion gate -> shared inference worker -> `on_detections`, for one camera.

    `tracks`, if given, returns the camera's live track boxes (n, 4) so the gate keeps
    looking at objects that stopped moving; `settled` whether the tracker's last output
    holds all of them (then the gate may skip frames where nothing moves, "still"); both
    are called on this camera's thread. A live
    camera submits every frame and lets the worker shed load; an offline file waits for the
    worker instead, so every decimated frame is detected.
    """

    def __init__(
        self,
        config: CameraConfig,
        worker: InferenceWorker,
        on_detections: Callable[[FrameDetections], None],
        *,
        tracks: TracksFn | None = None,
        settled: SettledFn | None = None,
        model_input: int = 416,
        reader: CameraReader | None = None,
    ) -> None:
        self.config = config
        self.camera_id = config.id
        self.reader = reader or CameraReader(config)
        self._model_input = model_input
        self._gate_scale: Scale = IDENTITY
        self.gate = MotionGate(config.motion, model_input)
        self._worker = worker
        self._on_detections = on_detections
        self._tracks = tracks
        self._settled = settled
        self._results: queue.SimpleQueue[WorkResult] = queue.SimpleQueue()
        self._outstanding = 0
        self._plans: Counter[str] = Counter()
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera-{config.id}", daemon=True)

    def start(self) -> CameraPipeline:
        """Start the reader and this camera's thread; results go to `on_detections`."""
        self.reader.start()
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop reading and wait up to `timeout` for the thread; owed results are not delivered."""
        self._stop.set()
        self.reader.stop(timeout)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for a finite source (a file) to be read and all its results delivered."""
        self._thread.join(timeout)

    def health(self) -> PipelineHealth:
        """What heartbeats report for this camera: reader, worker share, gate plans, crash."""
        return PipelineHealth(
            self.reader.health(),
            self._worker.stats().get(self.camera_id),
            dict(self._plans),
            self.error,
        )

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                # Wait on what comes next: a result owed by the worker (delivered as soon
                # as it is there, not at the next frame or poll), else the next frame.
                if self._outstanding:
                    self._drain(timeout=0.05)
                    frame = self.reader.read(timeout=0)
                else:
                    frame = self.reader.read(timeout=0.05)
                if frame is not None:
                    self._submit(frame)
                    self._drain()  # a frame with nothing to detect is answered at once
                elif self.reader.finished and not len(self.reader.slot):
                    break
            self._finish_outstanding()
        except Exception as err:  # reported in health; the reader is stopped with it
            log.exception("camera %s: pipeline crashed", self.camera_id)
            self.error = f"pipeline crashed: {err!r}"
            self.reader.stop(0)

    def _submit(self, frame: Frame) -> None:
        if self.reader.offline:
            # Offline analysis loses nothing: wait for the worker rather than be shed by it.
            while self._outstanding >= self._worker.slots_per_camera and not self._stop.is_set():
                self._drain(timeout=0.1)
        scale = frame.scale
        if scale != self._gate_scale:
            # First substream frame, or the stream came back at another size: the gate's
            # background is of the old size anyway, so a fresh gate loses nothing.
            self._gate_scale = scale
            self.gate = MotionGate(gate_config(self.config.motion, scale), self._model_input)
        tracks = self._tracks() if self._tracks is not None else None
        settled = self._settled is not None and self._settled()
        if tracks is not None and scale != IDENTITY:
            tracks = to_detect(tracks, scale)
        plan = self.gate.update(frame.image, frame.capture_time, tracks, settled)
        self._plans[plan.reason] += 1
        self._outstanding += 1
        self._worker.submit(
            WorkItem(
                self.camera_id,
                plan.crops(frame.image),
                payload=(frame, plan),
                reply=self._results.put,
            )
        )

    def _drain(self, timeout: float | None = None) -> None:
        """Deliver every result that has arrived (waiting up to `timeout` for the first)."""
        block = timeout is not None
        while True:
            try:
                result = self._results.get(block=block, timeout=timeout)
            except queue.Empty:
                return
            block = False
            self._outstanding -= 1
            self._deliver(result)

    def _finish_outstanding(self) -> None:
        """After the source ended: wait for results the worker still owes (or skipped)."""
        while self._outstanding > 0 and not self._stop.is_set():
            stats = self._worker.stats().get(self.camera_id)
            if stats is not None and stats.pending + stats.in_flight == 0 and self._results.empty():
                return
            self._drain(timeout=0.1)

    def _deliver(self, result: WorkResult) -> None:
        frame, plan = result.item.payload
        detections = Detections.empty()
        if result.error is None and len(plan.windows):
            found = merge_window_detections(plan.windows, result.detections, frame.shape)
            detections = to_main(found, frame.scale)
        self._on_detections(
            FrameDetections(frame, plan, detections, result.error, result.latency_s, result.model)
        )

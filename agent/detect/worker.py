"""`InferenceWorker`: the one detector thread of a box, shared fairly by all its cameras.

A 2-core box cannot run a detector per camera, and must not let a slow detector build a
queue: a backlog only makes every answer later. So each camera has a small bounded slot of
pending work; when the detector falls behind, a camera's newest frame replaces its oldest
pending one and the replaced frame is counted as skipped for that camera. The worker takes
work round-robin across cameras and batches images from several cameras into one detector
call, which is where batching pays on CPU backends.

Other models of the box (the face detector and embedder) run on the same thread, so a
2-core box never runs two models at once: `WorkerModel` registers one on the worker, and a
camera thread calling it waits for its turn. Each (model, camera) pair has its own lane,
batches hold one model's work only, and the round-robin over lanes serves every model and
camera in turn.

The detector can be swapped while cameras run (`swap_detector`, a model update): the swap
happens on the worker thread between two batches, and every result carries the tag of the
detector that made it, so events are stamped with the right model version. Warm-up of a
new model runs there too (`run_between`), never beside the live detector.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import numpy as np

from agent.detections import Detections
from agent.errors import ModelError

log = logging.getLogger(__name__)

DetectFn = Callable[[list[np.ndarray]], Sequence[Detections]]
ModelFn = Callable[[list[np.ndarray]], Sequence[object]]
ResultFn = Callable[["WorkResult"], None]
LATENCY_WINDOW = 256
DETECTOR = ""  # the worker's own model (the object detector): `WorkItem.model` default
_WAIT_POLL_S = 0.1
R = TypeVar("R")


@dataclass(frozen=True)
class WorkItem:
    """Images of one camera frame to detect in, with the caller's context.

    Items with no images (nothing to look at in that frame) still pass through the worker,
    so each camera's results come back in the order its frames were submitted. `reply`, if
    given, receives this item's result instead of the worker's `on_result`. `model` names
    a model registered with `InferenceWorker.add_model` (default: the worker's detector).
    """

    camera_id: str
    images: list[np.ndarray]
    payload: Any = None
    reply: ResultFn | None = None
    submitted: float = field(default_factory=time.monotonic)
    model: str = DETECTOR


@dataclass(frozen=True)
class WorkResult:
    """Detections for a `WorkItem`: one `Detections` per image, or an error.

    For an item of another model (`WorkItem.model`), `detections` holds that model's
    outputs, one per image; `WorkerModel` hands them back typed.
    """

    item: WorkItem
    detections: list[Detections]
    error: str | None
    latency_s: float
    model: Any = None  # the detector's tag (`swap_detector`) when it made these detections


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


class _Between:
    """A callable to run on the worker thread between batches, and its outcome."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as err:  # handed to the caller, which re-raises it
            self.error = err
        finally:
            self.done.set()


class InferenceWorker:
    """One thread that runs `detect` on batches gathered round-robin from all cameras.

    `detect(images)` must return one `Detections` per image (e.g. `ObjectDetector.detect`).
    `on_result` is called for every processed item, in submission order per camera, on the
    worker thread (or, for an item with no images and nothing of its camera ahead of it, on
    the submitting thread); it should be quick (hand the result to the camera's own thread).
    """

    def __init__(
        self,
        detect: DetectFn,
        on_result: ResultFn | None = None,
        max_batch: int = 8,
        slots_per_camera: int = 1,
        tag: Any = None,
    ) -> None:
        if max_batch < 1 or slots_per_camera < 1:
            raise ValueError(
                f"max_batch and slots_per_camera must be >= 1, got {max_batch}, {slots_per_camera}"
            )
        self._models: dict[str, ModelFn] = {DETECTOR: detect}
        self._tag: Any = tag  # identity of the detector now in `_models`, on every result
        self._between: deque[_Between] = deque()
        self._on_result = on_result
        self.max_batch = max_batch
        self.slots_per_camera = slots_per_camera
        self._lanes: dict[tuple[str, str], _Lane] = {}  # (model, camera) -> lane
        self._order: list[tuple[str, str]] = []
        self._next = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self.batches = 0  # detector calls made
        self.model_batches: Counter[str] = Counter()  # calls of each added model

    def add_model(self, name: str, run: ModelFn) -> None:
        """Run `run(images)` (one output per image) for items naming `name`, on this thread."""
        with self._cond:
            if not name or name in self._models:
                raise ValueError(f"model name {name!r} is empty or already added")
            self._models[name] = run

    def run_between(self, fn: Callable[[], R], timeout: float | None = None) -> R:
        """Run `fn` on the worker thread between two batches and return what it returned.

        How a box warms up or swaps its detector without a second thread running a model
        and without a batch ever seeing half of a change. Runs `fn` here and now when the
        worker thread is not running. Exceptions of `fn` are raised to the caller.
        """
        if threading.current_thread() is self._thread:
            return fn()  # already between batches: the worker thread itself asks
        with self._cond:
            live = self._thread.is_alive() and not self._stopping
            if live:
                job = _Between(fn)
                self._between.append(job)
                self._cond.notify_all()
        if not live:
            return fn()
        if not job.done.wait(timeout):
            raise TimeoutError("the inference worker did not get to it in time")
        if job.error is not None:
            raise job.error
        return cast(R, job.result)

    def swap_detector(self, detect: DetectFn, tag: Any) -> Any:
        """Make `detect` the detector from the next batch on; returns the previous tag.

        Runs between batches (`run_between`): every result comes from exactly one detector
        and carries that detector's `tag`, so nothing made by one model is stamped with
        another's version.
        """

        def swap() -> Any:
            previous = self._tag
            self._models[DETECTOR] = detect
            self._tag = tag
            return previous

        return self.run_between(swap)

    @property
    def tag(self) -> Any:
        """The tag of the detector that runs now."""
        return self._tag

    def start(self) -> InferenceWorker:
        """Start the inference thread; returns self so construction can chain."""
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

        Never blocks: a camera's pending work is bounded by `slots_per_camera`. An item
        with no images whose camera has nothing pending or in flight is answered at once,
        on the caller's thread (its order is kept: nothing of that camera is ahead of it):
        a still camera's frames then neither wait for other cameras' detector batches
        (they did, ~a batch's time each) nor take its slot and get shed behind them.
        """
        with self._cond:
            if self._stopping:
                raise RuntimeError("inference worker is stopped")
            if item.model not in self._models:
                raise ValueError(f"no model {item.model!r} on this inference worker")
            key = (item.model, item.camera_id)
            lane = self._lanes.get(key)
            if lane is None:
                lane = self._lanes[key] = _Lane(self.slots_per_camera)
                self._order.append(key)
            lane.submitted += 1
            if not item.images and not lane.pending and not lane.in_flight:
                at_once = self._thread.is_alive()
            else:
                at_once = False
            if at_once:
                lane.in_flight += 1
                tag = self._tag if item.model == DETECTOR else None
            else:
                displaced = len(lane.pending) >= lane.capacity
                if displaced:
                    lane.pending.popleft()
                    lane.skipped += 1
                lane.pending.append(item)
                lane.max_pending = max(lane.max_pending, len(lane.pending))
                self._cond.notify_all()
        if at_once:
            self._finish(item, [], None, tag)
            return True
        return not displaced

    @property
    def alive(self) -> bool:
        """Whether the detector thread is running (for health checks)."""
        return self._thread.is_alive()

    @property
    def stopped(self) -> bool:
        """Whether `stop` was called: nothing more will be taken."""
        return self._stopping

    def stats(self, model: str = DETECTOR) -> dict[str, CameraStats]:
        """Per-camera accounting of one model's work (default: the detector's)."""
        with self._cond:
            return {
                cam: _snapshot(cam, lane)
                for (name, cam), lane in self._lanes.items()
                if name == model
            }

    # ----- worker thread ----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._stopping or bool(self._between) or self._has_pending()
                )
                if self._stopping:
                    self._cancel_between()
                    return
                job = self._between.popleft() if self._between else None
                batch = [] if job is not None else self._take_batch()
            if job is not None:
                job.run()
            else:
                self._process(batch)

    def _cancel_between(self) -> None:
        for job in self._between:
            job.error = RuntimeError("inference worker stopped")
            job.done.set()
        self._between.clear()

    def _has_pending(self) -> bool:
        return any(lane.pending for lane in self._lanes.values())

    def _take_batch(self) -> list[WorkItem]:
        """Oldest item of each camera in turn, from where the last batch stopped, until full.

        Rotating the starting camera is what makes shedding fair when a batch cannot take
        every camera: the ones left out this time go first next time. A batch holds one
        model's items: the first lane served decides which.
        """
        batch: list[WorkItem] = []
        images = 0
        count = len(self._order)
        progress = True
        while progress:
            progress = False
            for step in range(count):
                key = self._order[(self._next + step) % count]
                lane = self._lanes[key]
                if not lane.pending or (batch and key[0] != batch[0].model):
                    continue
                size = len(lane.pending[0].images)
                if batch and images + size > self.max_batch:
                    continue
                batch.append(lane.pending.popleft())
                lane.in_flight += 1
                images += size
                progress = True
                self._next = (self._order.index(key) + 1) % count
        return batch

    def _process(self, batch: list[WorkItem]) -> None:
        """Detect for a batch; if it fails, retry item by item so one bad frame fails alone.

        Items with no images that no image item of their camera precedes in the batch are
        answered before the model runs: they need nothing from it.
        """
        tag = self._tag if batch[0].model == DETECTOR else None  # swaps run on this thread
        blocked: set[tuple[str, str]] = set()
        rest: list[WorkItem] = []
        for item in batch:
            key = (item.model, item.camera_id)
            if item.images or key in blocked:
                blocked.add(key)
                rest.append(item)
            else:
                self._finish(item, [], None, tag)
        if not rest:
            return
        batch = rest
        try:
            found = self._run_model(batch[0].model, [im for item in batch for im in item.images])
        except Exception as err:  # one bad batch must not end detection for the whole box
            if len(batch) > 1:
                for item in batch:
                    self._process([item])
                return
            item = batch[0]
            what = "detector" if item.model == DETECTOR else item.model
            log.exception("%s failed for camera %s", what, item.camera_id)
            self._finish(item, [], f"{what} failed: {err!r}", tag)
            return
        offset = 0
        for item in batch:
            n = len(item.images)
            self._finish(item, found[offset : offset + n], None, tag)
            offset += n

    def _run_model(self, model: str, images: list[np.ndarray]) -> list[Any]:
        run = self._models[model]
        found: list[Any] = []
        for start in range(0, len(images), self.max_batch):
            found.extend(run(images[start : start + self.max_batch]))
        if len(found) != len(images):
            what = "detector" if model == DETECTOR else model
            raise ValueError(f"{what} returned {len(found)} results for {len(images)} images")
        if images:
            if model == DETECTOR:
                self.batches += 1
            else:
                self.model_batches[model] += 1
        return found

    def _finish(self, item: WorkItem, dets: list[Detections], error: str | None, tag: Any) -> None:
        result = WorkResult(item, dets, error, time.monotonic() - item.submitted, tag)
        with self._cond:
            lane = self._lanes[(item.model, item.camera_id)]
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


class WorkerModel(Generic[R]):
    """Another model of the box, run on an `InferenceWorker`'s thread and waited for.

    Calling it from a camera thread queues the images in that camera's lane for this model
    and blocks until the worker has run them: the camera keeps its place in the
    round-robin, and the model never runs beside the detector. `run(images)` must return
    one output per image. Errors of the model come back as `ModelError`.
    """

    def __init__(
        self, worker: InferenceWorker, name: str, run: Callable[[list[np.ndarray]], Sequence[R]]
    ) -> None:
        worker.add_model(name, run)
        self.worker = worker
        self.name = name

    def __call__(self, camera_id: str, images: list[np.ndarray]) -> list[R]:
        """Outputs for `images`; raises `ModelError` if the model failed or the worker stopped."""
        if not images:
            return []
        done = threading.Event()
        answer: list[WorkResult] = []

        def reply(result: WorkResult) -> None:
            answer.append(result)
            done.set()

        try:
            self.worker.submit(WorkItem(camera_id, images, reply=reply, model=self.name))
        except RuntimeError as err:  # stopped: the same answer as stopping while waiting
            raise ModelError(f"{self.name}: {err}") from err
        while not done.wait(_WAIT_POLL_S):
            # Stopping finishes the batch in flight; once the thread is gone, no answer comes.
            if self.worker.stopped and not self.worker.alive and not done.is_set():
                raise ModelError(f"{self.name}: inference worker stopped before running it")
        result = answer[0]
        if result.error is not None:
            raise ModelError(f"camera {camera_id}: {result.error}")
        return cast(list[R], result.detections)

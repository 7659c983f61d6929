"""InferenceWorker with the real detector: bounded queues, fair shedding, ordered results."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np
import pytest

from agent.detect.object_detector import ObjectDetector
from agent.detect.worker import CameraStats, DetectFn, InferenceWorker, WorkItem, WorkResult
from agent.detections import Detections
from tests.worker.sinks import PerCamera

CAMERAS = ["north", "south", "east", "west"]


def results_sink() -> PerCamera[WorkResult]:
    return PerCamera(lambda result: result.item.camera_id)


class GatedDetect:
    """The real detector behind a gate that the test opens one call at a time.

    Each call announces itself, then waits. While the worker is held inside a call the test
    submits the next frames, so what the following batch takes depends only on the worker's
    policy - never on how fast this machine detects or how threads are scheduled.
    """

    def __init__(self, detect: DetectFn) -> None:
        self._detect = detect
        self._called = threading.Semaphore(0)
        self._go = threading.Semaphore(0)

    def __call__(self, images: list[np.ndarray]) -> Sequence[Detections]:
        self._called.release()
        if not self._go.acquire(timeout=60):
            raise TimeoutError("the test never released this detector call")
        return self._detect(images)

    def wait_for_call(self) -> None:
        """Until the worker's next call has started (and is held)."""
        assert self.called(timeout=60), "the worker made no detector call"

    def called(self, timeout: float) -> bool:
        """Whether the worker's next call started (and is held) within `timeout`."""
        return self._called.acquire(timeout=timeout)

    def release(self) -> None:
        self._go.release()


class Ordered:
    """Every result in delivery order (the worker thread is the only writer)."""

    def __init__(self) -> None:
        self.results: list[WorkResult] = []

    def __call__(self, result: WorkResult) -> None:
        self.results.append(result)


def _run_rounds(
    worker: InferenceWorker,
    gate: GatedDetect,
    sink: Ordered,
    rounds: int,
    feed: Callable[[int], None],
) -> list[list[str]]:
    """Hold each of the first `rounds` detector calls while `feed(round)` submits (nothing is
    submitted during the last); then let the worker finish. Returns the cameras of each batch.

    Before the worker's next call starts, every result of the previous one has been
    delivered, so the results seen between two calls are exactly one batch.
    """
    batches: list[list[str]] = []
    seen = 0

    def batch_done() -> None:
        nonlocal seen
        batches.append([r.item.camera_id for r in sink.results[seen:]])
        seen = len(sink.results)

    worker.start()
    gate.wait_for_call()
    for index in range(rounds - 1):
        feed(index)
        gate.release()
        gate.wait_for_call()
        batch_done()
    deadline = time.monotonic() + 60
    gate.release()
    while True:  # work left over from the last feed: one more call at a time, until idle
        if gate.called(timeout=0.01):
            batch_done()
            gate.release()
        elif not any(s.pending or s.in_flight for s in worker.stats().values()):
            break
        assert time.monotonic() < deadline, worker.stats()
    worker.stop(30)  # joins the thread: the last call's results are delivered
    batch_done()
    return batches


def _submit(worker: InferenceWorker, camera: str, crops: list[np.ndarray], seq: int) -> None:
    worker.submit(WorkItem(camera, [crops[seq % len(crops)]], payload=seq))


def _check_accounting(stats: dict[str, CameraStats], slots: int) -> None:
    for s in stats.values():
        assert s.submitted == s.processed + s.skipped + s.pending + s.in_flight, s
        assert s.max_pending <= slots, s


def test_overloaded_worker_sheds_fairly_and_stays_bounded(
    detector: ObjectDetector, vtest_crops: list[np.ndarray]
) -> None:
    """4 cameras each submit 3 frames per detector call: each batch takes every camera's
    newest frame, the 2 older ones are shed, and nothing queues beyond one slot."""
    gate, sink = GatedDetect(detector.detect), Ordered()
    worker = InferenceWorker(gate, sink, max_batch=4)
    rounds = 6
    for cam in CAMERAS:
        _submit(worker, cam, vtest_crops, 0)

    def feed(index: int) -> None:
        for seq in range(3 * index + 1, 3 * index + 4):
            for cam in CAMERAS:
                _submit(worker, cam, vtest_crops, seq)

    batches = _run_rounds(worker, gate, sink, rounds, feed)
    stats = worker.stats()
    _check_accounting(stats, slots=1)
    # Equal service: one frame of each camera per call.
    assert [sorted(batch) for batch in batches] == [sorted(CAMERAS)] * rounds
    assert worker.batches == rounds
    for cam in CAMERAS:
        assert (stats[cam].processed, stats[cam].skipped) == (rounds, 2 * (rounds - 1))
        results = [r for r in sink.results if r.item.camera_id == cam]
        # The newest frame replaced the older ones: 0, then the last of each 3.
        assert [r.item.payload for r in results] == [0, *range(3, 3 * rounds, 3)]
        # Real detections: people walk through these crops.
        assert all(r.error is None and len(r.detections) == 1 for r in results)
        persons = sum(int((r.detections[0].class_id == 0).sum()) for r in results)
        assert persons >= len(results)


def test_small_batches_rotate_across_cameras(
    detector: ObjectDetector, vtest_crops: list[np.ndarray]
) -> None:
    """max_batch 2 < 4 cameras: the cameras left out of one batch lead the next."""
    gate, sink = GatedDetect(detector.detect), Ordered()
    worker = InferenceWorker(gate, sink, max_batch=2)
    for cam in CAMERAS:
        _submit(worker, cam, vtest_crops, 0)

    def feed(index: int) -> None:
        for cam in CAMERAS:
            _submit(worker, cam, vtest_crops, index + 1)

    batches = _run_rounds(worker, gate, sink, 6, feed)
    stats = worker.stats()
    _check_accounting(stats, slots=1)
    # Nothing is fed during the 6th call, so the pair it left out goes in a 7th.
    assert len(batches) == 7 and all(len(batch) == 2 for batch in batches), batches
    for taken, following in pairwise(batches):
        assert sorted(following) == sorted(set(CAMERAS) - set(taken)), batches
    processed = [stats[c].processed for c in CAMERAS]
    assert max(processed) - min(processed) <= 1, stats


def test_a_busy_camera_cannot_starve_quiet_ones(
    detector: ObjectDetector, vtest_crops: list[np.ndarray]
) -> None:
    """One detection per call; the busy camera submits 10 frames per call, the quiet ones
    one frame every third call: the quiet ones get every frame they ask for."""
    gate, sink = GatedDetect(detector.detect), Ordered()
    worker = InferenceWorker(gate, sink, max_batch=1, slots_per_camera=2)
    quiet = ["quiet-1", "quiet-2"]
    seqs = dict.fromkeys(["busy", *quiet], 0)

    def submit(cam: str) -> None:
        _submit(worker, cam, vtest_crops, seqs[cam])
        seqs[cam] += 1

    for cam in seqs:
        submit(cam)

    def feed(index: int) -> None:
        for _ in range(10):
            submit("busy")
        if index % 3 == 2:
            for cam in quiet:
                submit(cam)

    batches = _run_rounds(worker, gate, sink, 30, feed)
    stats = worker.stats()
    _check_accounting(stats, slots=2)
    assert all(len(batch) == 1 for batch in batches)
    busy = stats["busy"]
    for cam in quiet:
        # Twenty times the frame rate buys the busy camera no more detector time.
        assert stats[cam].skipped == 0 and stats[cam].processed == stats[cam].submitted, stats
        served = [r.item.payload for r in sink.results if r.item.camera_id == cam]
        assert served == list(range(stats[cam].submitted))
    assert busy.processed + 2 * stats["quiet-1"].processed == len(batches)
    assert busy.skipped > busy.processed, stats


def test_bad_frame_fails_alone_and_worker_keeps_going(
    detector: ObjectDetector, vtest_crops: list[np.ndarray]
) -> None:
    collector = results_sink()
    worker = InferenceWorker(detector.detect, collector, max_batch=8, slots_per_camera=4)
    # Queue before starting so the bad item shares a batch with good ones.
    worker.submit(WorkItem("good", [vtest_crops[0]], payload=0))
    worker.submit(WorkItem("bad", [np.zeros((416, 416), np.float32)], payload=0))
    worker.submit(WorkItem("good", [vtest_crops[1]], payload=1))
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while sum(s.processed for s in worker.stats().values()) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        worker.submit(WorkItem("bad", [vtest_crops[2]], payload=1))
        while worker.stats()["bad"].processed < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop(10)
    bad, good = collector.by_camera["bad"], collector.by_camera["good"]
    assert bad[0].error is not None and "expected BGR uint8" in bad[0].error
    assert bad[1].error is None and len(bad[1].detections) == 1
    assert [r.error for r in good] == [None, None] and [r.item.payload for r in good] == [0, 1]
    assert worker.stats()["bad"].errors == 1 and worker.stats()["good"].errors == 0


def test_empty_items_keep_order_without_detector_calls(
    detector: ObjectDetector, vtest_crops: list[np.ndarray]
) -> None:
    collector = results_sink()
    worker = InferenceWorker(detector.detect, collector, slots_per_camera=8)
    plan = [[], [vtest_crops[3]], [], [], [vtest_crops[4], vtest_crops[5]], []]
    for seq, images in enumerate(plan):
        worker.submit(WorkItem("cam", images, payload=seq))
    with worker:
        deadline = time.monotonic() + 10
        while worker.stats()["cam"].processed < len(plan) and time.monotonic() < deadline:
            time.sleep(0.02)
    results = collector.by_camera["cam"]
    assert [r.item.payload for r in results] == list(range(len(plan)))
    assert [len(r.detections) for r in results] == [len(p) for p in plan]
    assert worker.batches == 1  # the 3 images went in one call, empty frames cost none


def test_a_failing_result_handler_costs_only_its_own_results(
    caplog: pytest.LogCaptureFixture,
) -> None:
    delivered: list[WorkResult] = []

    def broken_for_one_camera(result: WorkResult) -> None:
        if result.item.camera_id == "bad":
            raise RuntimeError("consumer bug")
        delivered.append(result)

    worker = InferenceWorker(lambda images: [], broken_for_one_camera, slots_per_camera=4)
    for seq in range(3):
        worker.submit(WorkItem("bad", [], payload=seq))
        worker.submit(WorkItem("good", [], payload=seq))
    with caplog.at_level(logging.ERROR, logger="agent.detect.worker"), worker:
        deadline = time.monotonic() + 10
        while len(delivered) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker.alive
    assert [r.item.payload for r in delivered] == [0, 1, 2]
    assert worker.stats()["bad"].processed == 3 and worker.stats()["bad"].errors == 0
    failures = [r for r in caplog.records if "result handler failed" in r.getMessage()]
    assert len(failures) == 3 and all("bad" in r.getMessage() for r in failures)


def test_stop_counts_pending_as_skipped_and_refuses_new_work() -> None:
    worker = InferenceWorker(lambda images: [], slots_per_camera=3)
    for seq in range(5):
        worker.submit(WorkItem("cam", [], payload=seq))
    worker.stop()
    stats = worker.stats()["cam"]
    assert (stats.submitted, stats.skipped, stats.pending, stats.processed) == (5, 5, 0, 0)
    with pytest.raises(RuntimeError, match="stopped"):
        worker.submit(WorkItem("cam", []))
    with pytest.raises(ValueError, match="max_batch"):
        InferenceWorker(lambda images: [], max_batch=0)


def test_a_still_frame_does_not_wait_for_other_cameras_batches(
    detector: ObjectDetector, vtest_crops: list[np.ndarray]
) -> None:
    """An empty item with nothing of its camera ahead is answered at once, on the caller's
    thread, while the detector is busy with another camera; one behind an image item of its
    own camera still waits for it (order per camera)."""
    gate = GatedDetect(detector.detect)
    sink = Ordered()
    worker = InferenceWorker(gate, sink, slots_per_camera=2).start()
    try:
        worker.submit(WorkItem("busy", [vtest_crops[0]], payload=0))
        gate.wait_for_call()  # the detector is held inside the busy camera's batch
        assert worker.submit(WorkItem("still", [], payload=0))
        assert [(r.item.camera_id, r.item.payload) for r in sink.results] == [("still", 0)]
        assert sink.results[0].error is None and sink.results[0].detections == []
        worker.submit(WorkItem("busy", [], payload=1))  # behind its own image item: waits
        assert len(sink.results) == 1
        gate.release()
        deadline = time.monotonic() + 30
        while len(sink.results) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        gate.release()
        worker.stop(30)
    busy = [r.item.payload for r in sink.results if r.item.camera_id == "busy"]
    assert busy == [0, 1]
    stats = worker.stats()
    assert stats["still"].processed == 1 and stats["still"].skipped == 0
    assert worker.batches == 1
    _check_accounting(stats, 2)

"""InferenceWorker with the real detector: bounded queues, fair shedding, ordered results."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from agent.detect.object_detector import ObjectDetector
from agent.detect.worker import CameraStats, InferenceWorker, WorkItem, WorkResult
from tests.worker.sinks import PerCamera

CAMERAS = ["north", "south", "east", "west"]


def results_sink() -> PerCamera[WorkResult]:
    return PerCamera(lambda result: result.item.camera_id)


def _produce(
    worker: InferenceWorker, camera: str, crops: list[np.ndarray], period: float, seconds: float
) -> None:
    """Submit like a camera pipeline: one item per frame, at a fixed rate."""
    deadline = time.monotonic() + seconds
    seq = 0
    while time.monotonic() < deadline:
        worker.submit(WorkItem(camera, [crops[seq % len(crops)]], payload=seq))
        seq += 1
        time.sleep(period)


def _run_cameras(
    worker: InferenceWorker, crops: list[np.ndarray], periods: dict[str, float], seconds: float
) -> dict[str, CameraStats]:
    threads = [
        threading.Thread(target=_produce, args=(worker, cam, crops, period, seconds))
        for cam, period in periods.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    worker.stop(30)  # finishes the batch in flight; what is still pending counts as skipped
    return worker.stats()


def _check_accounting(stats: dict[str, CameraStats], slots: int) -> None:
    for s in stats.values():
        assert s.submitted == s.processed + s.skipped + s.pending + s.in_flight, s
        assert s.max_pending <= slots, s


def test_overloaded_worker_sheds_fairly_and_stays_bounded(
    detector: ObjectDetector, vtest_crops: list[np.ndarray]
) -> None:
    collector = results_sink()
    worker = InferenceWorker(detector.detect, collector, max_batch=4).start()
    # 4 cameras x 50 frames/s of 416x416 crops: far more than 2 cores can detect.
    stats = _run_cameras(worker, vtest_crops, dict.fromkeys(CAMERAS, 0.02), seconds=3.0)
    _check_accounting(stats, slots=1)
    processed = [stats[c].processed for c in CAMERAS]
    skipped = [stats[c].skipped for c in CAMERAS]
    assert min(skipped) > 0 and min(processed) > 0, stats
    # Every batch takes every backlogged camera: equal service, give or take the start.
    assert max(processed) - min(processed) <= 2, stats
    assert min(skipped) >= 0.7 * max(skipped), stats
    assert worker.batches < sum(processed)  # cameras shared detector calls
    for cam in CAMERAS:
        seqs = [r.item.payload for r in collector.by_camera[cam]]
        assert seqs == sorted(seqs) and len(seqs) == stats[cam].processed
        # Real detections: people walk through these crops.
        results = collector.by_camera[cam]
        assert all(r.error is None and len(r.detections) == 1 for r in results)
        persons = sum(int((r.detections[0].class_id == 0).sum()) for r in results)
        assert persons >= len(results)


def test_small_batches_rotate_across_cameras(
    detector: ObjectDetector, vtest_crops: list[np.ndarray]
) -> None:
    """max_batch 2 < 4 cameras: the cameras left out of one batch lead the next."""
    worker = InferenceWorker(detector.detect, max_batch=2).start()
    stats = _run_cameras(worker, vtest_crops, dict.fromkeys(CAMERAS, 0.02), seconds=2.5)
    _check_accounting(stats, slots=1)
    processed = [stats[c].processed for c in CAMERAS]
    assert min(processed) > 0 and max(processed) - min(processed) <= 2, stats


def test_a_busy_camera_cannot_starve_quiet_ones(
    detector: ObjectDetector, vtest_crops: list[np.ndarray]
) -> None:
    worker = InferenceWorker(detector.detect, max_batch=1, slots_per_camera=2).start()
    periods = {"busy": 0.005, "quiet-1": 0.1, "quiet-2": 0.1}
    stats = _run_cameras(worker, vtest_crops, periods, seconds=2.5)
    _check_accounting(stats, slots=2)
    busy = stats["busy"]
    for cam in ("quiet-1", "quiet-2"):
        # Twenty times the frame rate buys the busy camera no more detector time: a quiet
        # camera gets all it asks for, or at least as much as the busy one.
        fair_share = min(stats[cam].submitted, busy.processed)
        assert stats[cam].processed >= fair_share - 2, stats  # +-1 at start and at stop
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


def test_stop_counts_pending_as_skipped_and_refuses_new_work(vtest_crops: list[np.ndarray]) -> None:
    def broken_handler(result: WorkResult) -> None:
        raise RuntimeError("consumer bug")

    worker = InferenceWorker(lambda images: [], broken_handler, slots_per_camera=3)
    for seq in range(5):
        worker.submit(WorkItem("cam", [], payload=seq))
    worker.stop()
    stats = worker.stats()["cam"]
    assert (stats.submitted, stats.skipped, stats.pending, stats.processed) == (5, 5, 0, 0)
    with pytest.raises(RuntimeError, match="stopped"):
        worker.submit(WorkItem("cam", []))
    with pytest.raises(ValueError, match="max_batch"):
        InferenceWorker(lambda images: [], max_batch=0)

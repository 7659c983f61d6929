"""Swapping the shared worker's detector: every result comes from the detector it is tagged with.

Two real detectors (the shipped nanodet-g INT8 and FP32 files: same labels, different
numbers) on real frames. While cameras keep submitting, the detector is swapped back and
forth; each result's detections are then compared with what its tagged detector alone
finds on that image. A result made by one model but tagged with the other would fail,
as would a batch split across a swap.
"""

from __future__ import annotations

import functools
import threading
import time

import numpy as np

from agent.detect.object_detector import ObjectDetector
from agent.detect.worker import InferenceWorker, WorkItem, WorkResult
from agent.detections import Detections
from agent.inference.backend import load_model
from tests.support.net import wait_until


def _same(a: Detections, b: Detections) -> bool:
    if len(a.xyxy) != len(b.xyxy):
        return False
    boxes = np.allclose(a.xyxy, b.xyxy, atol=0.05)
    return bool(boxes and np.allclose(a.confidence, b.confidence, atol=1e-4))


def _more_than(results: list[WorkResult], count: int) -> bool:
    return len(results) >= count


def test_every_result_is_tagged_with_the_detector_that_made_it(
    vtest_crops: list[np.ndarray],
) -> None:
    detectors = {
        "int8": ObjectDetector(load_model("nanodet-g", "int8", "onnxruntime"), score_threshold=0.2),
        "fp32": ObjectDetector(load_model("nanodet-g", "fp32", "onnxruntime"), score_threshold=0.2),
    }
    images = vtest_crops[:6]
    alone = {
        (tag, i): detectors[tag].detect([image])[0]
        for tag in detectors
        for i, image in enumerate(images)
    }
    # The two models really differ on these frames, so a wrong tag cannot pass unseen.
    assert sum(not _same(alone["int8", i], alone["fp32", i]) for i in range(len(images))) >= 4
    results: list[WorkResult] = []
    lock = threading.Lock()

    def keep(result: WorkResult) -> None:
        with lock:
            results.append(result)

    worker = InferenceWorker(detectors["int8"].detect, keep, max_batch=1, tag="int8").start()
    stop = threading.Event()

    def camera(name: str) -> None:
        n = 0
        while not stop.is_set():
            worker.submit(WorkItem(name, [images[n % len(images)]], payload=n % len(images)))
            n += 1
            time.sleep(0.005)

    threads = [threading.Thread(target=camera, args=(f"cam-{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    try:
        for swap in range(8):
            tag = "fp32" if swap % 2 == 0 else "int8"
            previous = worker.swap_detector(detectors[tag].detect, tag)
            assert previous == ("int8" if tag == "fp32" else "fp32")
            assert worker.tag == tag
            # Each model gets several batches from the cameras before the next swap.
            wait_until(functools.partial(_more_than, results, len(results) + 6), 60, tag)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        worker.stop()
    assert {r.model for r in results} == {"int8", "fp32"}
    wrong = [
        (r.model, r.item.payload)
        for r in results
        if r.error is None and not _same(r.detections[0], alone[r.model, r.item.payload])
    ]
    assert wrong == []
    assert all(r.error is None for r in results)


def test_run_between_runs_on_the_worker_thread_and_returns_its_value() -> None:
    seen: list[str] = []

    def job() -> int:
        seen.append(threading.current_thread().name)
        return 42

    worker = InferenceWorker(lambda images: [], tag="t").start()
    try:
        value = worker.run_between(job)
    finally:
        worker.stop()
    assert value == 42 and seen == ["inference"]
    # Not running: done here and now (e.g. a box warming up before it starts).
    assert worker.run_between(lambda: threading.current_thread().name) == "MainThread"

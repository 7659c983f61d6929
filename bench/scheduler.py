"""How many cameras one box's shared inference worker serves, and what shedding looks like.

    python -m bench.scheduler [--cameras 4] [--fps 5] [--crops 1] [--seconds 10]

Each simulated camera submits `--crops` real 416x416 crops of vtest.avi per frame at `--fps`
to one `InferenceWorker` running the shipped INT8 NanoDet, as `CameraPipeline` would after
the motion gate. For max_batch 1 and 8 it prints images/s detected, per-camera processed and
skipped frames, and latency p50/p95 (submit to result). The machines are shared: compare
figures within one run.
"""

from __future__ import annotations

import argparse
import threading
import time

import cv2
import numpy as np

from agent.detect.object_detector import ObjectDetector
from agent.detect.worker import InferenceWorker, WorkItem
from agent.inference.backend import load_model
from bench.machine import describe
from tests.support.media import VTEST


def real_crops(count: int = 20) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(VTEST))
    crops = []
    for index in range(count):
        cap.set(cv2.CAP_PROP_POS_FRAMES, index * 20)
        ok, frame = cap.read()
        if ok:
            crops.append(np.ascontiguousarray(frame[100:516, 150:566]))
    cap.release()
    return crops


def camera(
    worker: InferenceWorker,
    name: str,
    crops: list[np.ndarray],
    args: argparse.Namespace,
    stop: threading.Event,
) -> None:
    """Submit `args.crops` images per frame at `args.fps` until `stop`."""
    seq = 0
    next_at = time.monotonic()
    while not stop.is_set():
        images = [crops[(seq + k) % len(crops)] for k in range(args.crops)]
        worker.submit(WorkItem(name, images))
        seq += 1
        next_at += 1.0 / args.fps
        stop.wait(max(0.0, next_at - time.monotonic()))


def run(detector: ObjectDetector, args: argparse.Namespace, max_batch: int) -> None:
    crops = real_crops()
    worker = InferenceWorker(detector.detect, max_batch=max_batch).start()
    stop = threading.Event()
    names = [f"cam{k}" for k in range(args.cameras)]
    threads = [threading.Thread(target=camera, args=(worker, n, crops, args, stop)) for n in names]
    start = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(args.seconds)
    stop.set()
    for t in threads:
        t.join()
    worker.stop(30)
    elapsed = time.perf_counter() - start
    stats = worker.stats()
    images = sum(s.images for s in stats.values())
    print(f"max_batch {max_batch}: {images / elapsed:.1f} images/s in {worker.batches} calls")
    for name in names:
        s = stats[name]
        print(
            f"  {name}: processed {s.processed}, skipped {s.skipped} of {s.submitted}, "
            f"latency p50 {s.latency_p50_s * 1000:.0f} ms, p95 {s.latency_p95_s * 1000:.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="Shared inference worker under load.")
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--crops", type=int, default=1, help="detector images per frame")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()
    model = load_model("nanodet-m", backend=args.backend)
    print(f"machine: {describe()}")
    print(
        f"model {model.spec.key} on {type(model).__name__}; {args.cameras} cameras x "
        f"{args.fps} fps x {args.crops} crop(s) = "
        f"{args.cameras * args.fps * args.crops:.0f} images/s offered"
    )
    detector = ObjectDetector(model)
    detector.detect(real_crops(2))  # warm-up
    for max_batch in (1, 8):
        run(detector, args, max_batch)


if __name__ == "__main__":
    main()

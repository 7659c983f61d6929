"""Per-frame cost of tracking and analytics, on real detections and on crowded scenes.

    python -m bench.tracking [--repeat 5] [--crowd 50 200]

1. Real: the shipped detector runs once over tests/data/vtest.avi at 5 fps (not timed);
   then ByteTrack alone, and ByteTrack + a camera's rules (2 lines, 1 zone, 1 traffic rule,
   abandoned objects), are timed per frame over the clip, `--repeat` times.
2. Crowd: N synthetic walkers on random straight paths (plus 20% one-frame false
   positives), to show how the cost grows with the number of objects in view.

Prints p50/p95 microseconds per frame and the machine. Timings on a shared machine vary:
compare figures from one run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from agent.analytics.camera import CameraAnalytics
from agent.config.analytics import CameraAnalyticsConfig
from agent.detections import Detections
from agent.track.bytetrack import ByteTrack
from bench.machine import describe

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "tests" / "data" / "vtest.avi"
RULES = {
    "lines": [
        {"id": "post", "points": [[430, 120], [430, 576]]},
        {"id": "road", "points": [[0, 330], [768, 300]], "classes": ["person", "car"]},
    ],
    "zones": [{"id": "lawn", "polygon": [[0, 380], [768, 380], [768, 576], [0, 576]]}],
    "traffic": [
        {
            "line_id": "road",
            "calibration": {
                "image_points": [[100, 500], [700, 500], [600, 200], [200, 200]],
                "ground_points": [[0, 0], [10, 0], [10, 40], [0, 40]],
            },
        }
    ],
    "abandoned": {},
}


def real_frames() -> tuple[list[tuple[float, Detections]], tuple[str, ...]]:
    from agent.detect.object_detector import ObjectDetector
    from agent.inference.backend import load_model
    from agent.media import read_media

    detector = ObjectDetector(load_model("nanodet-m", "int8"), score_threshold=0.1)
    frames = [(i / 10.0, detector.detect([img])[0]) for i, img in read_media(CLIP, every=2)]
    return frames, detector.labels


def crowd_frames(
    n: int, seconds: float = 30.0, fps: float = 5.0, seed: int = 0
) -> list[tuple[float, Detections]]:
    rng = np.random.default_rng(seed)
    start = rng.uniform([0, 100], [1800, 1000], (n, 2))
    vel = rng.uniform(-60, 60, (n, 2))
    size = rng.uniform([20, 50], [60, 150], (n, 2))
    frames = []
    for k in range(int(seconds * fps)):
        t = k / fps
        pos = start + vel * t + rng.normal(0, 2, (n, 2))
        boxes = np.concatenate([pos, pos + size], axis=1)
        noise = rng.uniform(0, 1800, (n // 5, 2))
        noise_boxes = np.concatenate([noise, noise + 40], axis=1)
        xyxy = np.concatenate([boxes, noise_boxes])
        conf = np.concatenate([rng.uniform(0.3, 0.95, n), rng.uniform(0.5, 0.7, n // 5)])
        frames.append((t, Detections(xyxy, conf, np.zeros(len(xyxy), np.int64))))
    return frames


def time_per_frame(
    make: Callable[[], Callable[[Detections, float], object]],
    frames: list[tuple[float, Detections]],
    repeat: int,
) -> np.ndarray:
    samples = []
    for _ in range(repeat):
        step = make()
        for t, d in frames:
            t0 = time.perf_counter_ns()
            step(d, t)
            samples.append((time.perf_counter_ns() - t0) / 1000)
    return np.asarray(samples)


def report(name: str, us: np.ndarray, objects: float) -> None:
    print(f"{name:<44} {objects:7.1f} {np.percentile(us, 50):9.0f} {np.percentile(us, 95):9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--crowd", type=int, nargs="*", default=[50, 200])
    args = parser.parse_args()
    print(f"machine: {describe()}")
    print(f"{'case':<44} {'dets/f':>7} {'p50 us':>9} {'p95 us':>9}")
    frames, labels = real_frames()
    mean_dets = float(np.mean([len(d) for _, d in frames]))
    config = CameraAnalyticsConfig.model_validate(RULES)
    report(
        "vtest.avi ByteTrack",
        time_per_frame(lambda: ByteTrack(config.tracker).update, frames, args.repeat),
        mean_dets,
    )
    report(
        "vtest.avi ByteTrack + 5 rules",
        time_per_frame(lambda: CameraAnalytics(config, labels).update, frames, args.repeat),
        mean_dets,
    )
    for n in args.crowd:
        crowd = crowd_frames(n)
        dets = float(np.mean([len(d) for _, d in crowd]))
        report(
            f"crowd {n} walkers ByteTrack",
            time_per_frame(lambda: ByteTrack(config.tracker).update, crowd, 1),
            dets,
        )
        report(
            f"crowd {n} walkers ByteTrack + 5 rules",
            time_per_frame(lambda: CameraAnalytics(config, labels).update, crowd, 1),
            dets,
        )


if __name__ == "__main__":
    main()

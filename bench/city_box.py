"""A city box: how many cameras of a city's mix of scenes one box sustains.

    python -m bench.city_box [--start 4] [--step 4] [--max 64] [--seconds 20]

Cameras are real footage in the mix a city has: 60 % quiet, 30 % moderate, 10 % busy
(rounded; at least one busy camera). All three are built from tests/data/vtest.avi's first
take (frames 0-403, a pedestrian precinct at 768x576, 10 fps), honestly:

* busy: the take itself (up to ~12 walkers at once, all over the picture);
* quiet: the take's per-pixel temporal median, i.e. the same real scene with the walkers
  removed, for the whole take: a street where nothing passes (the gate's interval passes
  and nothing else);
* moderate: the take with every pixel right of x = 384 replaced by that median: the real
  walkers of the left half of the picture, the right half empty.

All three are re-encoded as MJPEG so every camera pays the same decoder. Each camera is a
`CameraPipeline` reading its clip in real time at 5 detect fps (`realtime: true`), with the
rules of docs/examples/camera.yaml, on one shared `InferenceWorker`, as `EdgeBox` runs them.
N ramps up until a camera falls below 90 % of its detect rate or the worker sheds frames.
Printed per N: the slowest camera's fps, frames shed, CPU cores used, RSS and RSS per
camera, and capture -> events-minted latency p50/p99 (the step just before the spool).
The machine is printed; timings on a shared machine vary with its load.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from agent.config.camera import CameraSpec, load_camera_spec
from agent.detect.worker import InferenceWorker
from agent.events.convert import EventMinter
from agent.pipeline.camera import CameraPipeline, FrameDetections
from agent.pipeline.detector_setup import make_detector
from agent.pipeline.stage import CameraStage
from bench.machine import describe

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "tests" / "data" / "vtest.avi"
CAMERA = ROOT / "docs" / "examples" / "camera.yaml"
TAKE = 404
DETECT_FPS = 5.0
MIX = (("quiet", 0.6), ("moderate", 0.3), ("busy", 0.1))


def build_clips(out: Path) -> dict[str, Path]:
    """Write the busy, moderate and quiet clips (see the module docstring) as MJPEG."""
    cap = cv2.VideoCapture(str(CLIP), cv2.CAP_FFMPEG)
    frames: list[np.ndarray] = []
    while len(frames) < TAKE:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    background = np.median(np.stack(frames[::4]), axis=0).astype(np.uint8)
    h, w = background.shape[:2]
    clips = {}
    for kind in ("busy", "moderate", "quiet"):
        path = out / f"{kind}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (w, h))
        for frame in frames:
            writer.write(_scene(kind, frame, background))
        writer.release()
        clips[kind] = path
    return clips


def _scene(kind: str, frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    if kind == "quiet":
        return background
    if kind == "moderate":
        half = frame.shape[1] // 2
        out = frame.copy()
        out[:, half:] = background[:, half:]
        return out
    return frame


def camera_kinds(n: int) -> list[str]:
    """The city mix for `n` cameras: 10 % busy (at least one), 30 % moderate, rest quiet."""
    busy = max(1, round(n * 0.1))
    moderate = min(n - busy, round(n * 0.3))
    return ["busy"] * busy + ["moderate"] * moderate + ["quiet"] * (n - busy - moderate)


@dataclass
class _Tally:
    frames: int = 0
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _sink(stage: CameraStage, tally: _Tally) -> Callable[[FrameDetections], None]:
    def on(found: FrameDetections) -> None:
        stage.process(found)
        with tally.lock:
            tally.frames += 1
            tally.latencies.append(time.time() - found.frame.capture_time)

    return on


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _spec(kind: str, k: int, clips: dict[str, Path]) -> CameraSpec:
    spec = load_camera_spec(CAMERA, source=str(clips[kind]), realtime=True)
    return spec.model_copy(update={"id": f"{kind}-{k}", "detect_fps": DETECT_FPS})


def run_box(detector: object, clips: dict[str, Path], n: int, seconds: float) -> dict[str, float]:
    """Run `n` cameras of the mix for `seconds` after a warm-up; the figures of that window."""
    base_rss = _rss_mib()
    worker = InferenceWorker(detector.detect, max_batch=8).start()  # type: ignore[attr-defined]
    tallies, pipelines = [], []
    for k, kind in enumerate(camera_kinds(n)):
        spec = _spec(kind, k, clips)
        stage = CameraStage(spec, detector.labels, EventMinter(spec.id))  # type: ignore[attr-defined]
        tally = _Tally()
        tallies.append(tally)
        pipelines.append(CameraPipeline(spec, worker, _sink(stage, tally), tracks=stage.live_boxes))
    for p in pipelines:
        p.start()
    time.sleep(3.0)  # warm-up: readers open, the first full-frame passes
    start_frames = [t.frames for t in tallies]
    start_shed = sum(s.skipped for s in worker.stats().values())
    for t in tallies:
        with t.lock:
            t.latencies.clear()
    cpu0, wall0 = os.times(), time.perf_counter()
    time.sleep(seconds)
    cpu1, wall = os.times(), time.perf_counter() - wall0
    fps = [(t.frames - f0) / wall for t, f0 in zip(tallies, start_frames, strict=True)]
    shed = sum(s.skipped for s in worker.stats().values()) - start_shed
    rss = _rss_mib()
    lat = np.asarray([x for t in tallies for x in t.latencies], np.float64)
    for p in pipelines:
        p.stop(5)
    worker.stop(5)
    cores = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / wall
    return {
        "min_fps": min(fps),
        "mean_fps": float(np.mean(fps)),
        "shed": float(shed),
        "cores": cores,
        "rss": rss,
        "rss_per_camera": (rss - base_rss) / n,
        "p50_ms": float(np.percentile(lat, 50) * 1000) if lat.size else float("nan"),
        "p99_ms": float(np.percentile(lat, 99) * 1000) if lat.size else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--start", type=int, default=4, help="cameras in the first step")
    parser.add_argument("--step", type=int, default=4)
    parser.add_argument("--max", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per step")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--precision", default=None)
    args = parser.parse_args()
    detector = make_detector(
        [_spec("busy", 0, {"busy": CLIP})], precision=args.precision, backend=args.backend
    )
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.1f}")
    spec = detector.model.spec
    print(f"detector: {spec.key} on {detector.model.backend}; mix 60/30/10 quiet/moderate/busy")
    print(
        "| cameras | busy/mod/quiet | slowest fps | mean fps | shed | cores | RSS MiB | "
        "MiB/camera | latency p50 ms | p99 ms | load |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    sustained = 0
    with tempfile.TemporaryDirectory() as tmp:
        clips = build_clips(Path(tmp))
        for n in range(args.start, args.max + 1, args.step):
            r = run_box(detector, clips, n, args.seconds)
            kinds = camera_kinds(n)
            mix = "/".join(str(kinds.count(k)) for k in ("busy", "moderate", "quiet"))
            print(
                f"| {n} | {mix} | {r['min_fps']:.2f} | {r['mean_fps']:.2f} | {r['shed']:.0f} | "
                f"{r['cores']:.2f} | {r['rss']:.0f} | {r['rss_per_camera']:.1f} | "
                f"{r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {os.getloadavg()[0]:.1f} |",
                flush=True,
            )
            if r["min_fps"] < 0.9 * DETECT_FPS or r["shed"] > 0:
                break
            sustained = n
    print(
        f"cameras sustained (every camera >= {0.9 * DETECT_FPS:g} fps, nothing shed): {sustained}"
    )


if __name__ == "__main__":
    main()

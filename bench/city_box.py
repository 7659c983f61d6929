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
import json
import os
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from agent.config.camera import CameraSpec, load_camera_spec
from agent.detect.worker import InferenceWorker
from agent.events.convert import EventMinter
from agent.pipeline.camera import CameraPipeline, FrameDetections
from agent.pipeline.detector_setup import make_detector
from agent.pipeline.stage import CameraStage
from bench.machine import describe
from bench.thread_cpu import RoleMeter

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "tests" / "data" / "vtest.avi"
CAMERA = ROOT / "docs" / "examples" / "camera.yaml"
TAKE = 404
DETECT_FPS = 5.0
KINDS = ("busy", "moderate", "quiet")
MIX = (("quiet", 0.6), ("moderate", 0.3), ("busy", 0.1))  # what camera_kinds rounds to


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


def clips_in(where: Path) -> dict[str, Path]:
    """The clips kept in `where` (`--clips`), built there first if any is missing."""
    where.mkdir(parents=True, exist_ok=True)
    clips = {k: where / f"{k}.avi" for k in KINDS}
    return clips if all(p.is_file() for p in clips.values()) else build_clips(where)


def _scene(kind: str, frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    if kind == "quiet":
        return background
    if kind == "moderate":
        half = frame.shape[1] // 2
        out = frame.copy()
        out[:, half:] = background[:, half:]
        return out
    return frame


def camera_kinds(n: int, only: str = "mix") -> list[str]:
    """The city mix for `n` cameras: 10 % busy (at least one), 30 % moderate, rest quiet.

    `only` = one of KINDS gives `n` cameras of that kind (its cost per camera).
    """
    if only != "mix":
        return [only] * n
    share = dict(MIX)
    busy = max(1, round(n * share["busy"]))
    moderate = min(n - busy, round(n * share["moderate"]))
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


def run_box(
    detector: object, clips: dict[str, Path], kinds: list[str], seconds: float
) -> dict[str, Any]:
    """Run cameras of `kinds` for `seconds` after a warm-up; the figures of that window.

    Besides wall rates, the CPU seconds of each thread role in the window (`RoleMeter`),
    which a loaded machine does not distort, and the detector images each camera asked for.
    """
    n = len(kinds)
    base_rss = _rss_mib()
    meter = RoleMeter()
    worker = InferenceWorker(detector.detect, max_batch=8).start()  # type: ignore[attr-defined]
    meter.mark_native()
    tallies, pipelines = [], []
    for k, kind in enumerate(kinds):
        spec = _spec(kind, k, clips)
        stage = CameraStage(spec, detector.labels, EventMinter(spec.id))  # type: ignore[attr-defined]
        tally = _Tally()
        tallies.append(tally)
        pipelines.append(
            CameraPipeline(
                spec,
                worker,
                _sink(stage, tally),
                tracks=stage.live_boxes,
                settled=stage.tracks_settled,
            )
        )
    for p in pipelines:
        p.start()
    time.sleep(3.0)  # warm-up: readers open, the first full-frame passes
    start_frames = [t.frames for t in tallies]
    stats0 = worker.stats()
    for t in tallies:
        with t.lock:
            t.latencies.clear()
    meter.start()
    cpu0, wall0 = os.times(), time.perf_counter()
    time.sleep(seconds)
    cpu1, wall = os.times(), time.perf_counter() - wall0
    spent = meter.stop()
    stats1 = worker.stats()
    fps = [(t.frames - f0) / wall for t, f0 in zip(tallies, start_frames, strict=True)]
    shed = sum(s.skipped for s in stats1.values()) - sum(s.skipped for s in stats0.values())
    images = {
        cam: (s.images - (stats0[cam].images if cam in stats0 else 0)) / wall
        for cam, s in stats1.items()
    }
    rss = _rss_mib()
    lat = np.asarray([x for t in tallies for x in t.latencies], np.float64)
    for p in pipelines:
        p.stop(5)
    worker.stop(5)
    return {
        "min_fps": min(fps),
        "mean_fps": float(np.mean(fps)),
        "shed": float(shed),
        "cores": (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / wall,
        "rss": rss,
        "rss_per_camera": (rss - base_rss) / n,
        "p50_ms": float(np.percentile(lat, 50) * 1000) if lat.size else float("nan"),
        "p99_ms": float(np.percentile(lat, 99) * 1000) if lat.size else float("nan"),
        "per_kind": _per_kind(kinds, spent, images, fps, wall),
        "shared": {
            "inference": spent["inference"] / wall,
            "pool": spent["native-before"] / wall,
            "decoders": spent["native-after"] / wall,
            "other": sum(v for k, v in spent.items() if not _camera_thread(k)) / wall
            - (spent["inference"] + spent["native-before"] + spent["native-after"]) / wall,
            "images": sum(images.values()),
        },
    }


def _camera_thread(name: str) -> bool:
    return name.startswith(("reader-", "camera-"))


def _per_kind(
    kinds: list[str],
    spent: defaultdict[str, float],
    images: dict[str, float],
    fps: list[float],
    wall: float,
) -> dict[str, dict[str, float]]:
    """Per camera of each kind: reader and camera-thread CPU s/s, frames/s, images/s.

    A starved box processes fewer frames than 5 a second, so the camera thread's CPU and
    the detector images are also given per processed frame, which load does not change.
    """
    out: dict[str, dict[str, float]] = {}
    for kind in sorted(set(kinds)):
        ids = [k for k, kd in enumerate(kinds) if kd == kind]
        names = [f"{kind}-{k}" for k in ids]
        count = len(ids)
        frames = sum(fps[k] for k in ids) / count
        camera = sum(spent[f"camera-{i}"] for i in names) / wall / count
        shots = sum(images.get(i, 0.0) for i in names) / count
        out[kind] = {
            "cameras": count,
            "reader": sum(spent[f"reader-{i}"] for i in names) / wall / count,
            "camera": camera,
            "fps": frames,
            "camera_ms_per_frame": 1000 * camera / frames if frames else float("nan"),
            "images_per_frame": shots / frames if frames else float("nan"),
        }
    return out


def _print_costs(r: dict[str, Any]) -> None:
    """CPU seconds per camera-second by kind, and the shared detector's cost per image."""
    sh = r["shared"]
    per_image = (sh["inference"] + sh["pool"]) / sh["images"] if sh["images"] else float("nan")
    print(
        f"  shared: inference thread {sh['inference']:.3f} + ONNX/OpenCV pool {sh['pool']:.3f} "
        f"CPU s/s for {sh['images']:.2f} images/s = {per_image * 1000:.1f} CPU ms/image; "
        f"decoder threads {sh['decoders']:.3f}, other {sh['other']:.3f}"
    )
    for kind, c in r["per_kind"].items():
        # Load-independent: decoding runs at the source's rate whatever the box keeps up
        # with; the camera thread and the detector are charged per frame, at 5 fps.
        at_rate = c["reader"] * 1000 + DETECT_FPS * (
            c["camera_ms_per_frame"] + c["images_per_frame"] * per_image * 1000
        )
        c["ms_per_s_at_rate"] = at_rate
        print(
            f"  {kind} x{c['cameras']:.0f}: reader {c['reader'] * 1000:.1f} CPU ms/s; camera "
            f"thread {c['camera_ms_per_frame']:.2f} CPU ms/frame ({c['fps']:.2f} frames/s); "
            f"{c['images_per_frame']:.2f} detector images/frame -> {at_rate:.1f} CPU ms per "
            f"second of video at {DETECT_FPS:g} fps (decoder threads not included)"
        )


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--start", type=int, default=4, help="cameras in the first step")
    parser.add_argument("--step", type=int, default=4)
    parser.add_argument("--max", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per step")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--precision", default=None)
    parser.add_argument(
        "--kinds",
        choices=("mix", *KINDS),
        default="mix",
        help="the city mix, or every camera of one kind (its cost per camera)",
    )
    parser.add_argument(
        "--keep-going", action="store_true", help="run every step even past the sustained count"
    )
    parser.add_argument("--clips", type=Path, default=None, help="keep the built clips here")
    parser.add_argument("--json", type=Path, default=None, help="append each step's figures")
    return parser.parse_args()


def _row(n: int, kinds: list[str], r: dict[str, Any]) -> str:
    mix = "/".join(str(kinds.count(k)) for k in KINDS)
    return (
        f"| {n} | {mix} | {r['min_fps']:.2f} | {r['mean_fps']:.2f} | {r['shed']:.0f} | "
        f"{r['cores']:.2f} | {r['rss']:.0f} | {r['rss_per_camera']:.1f} | "
        f"{r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {os.getloadavg()[0]:.1f} |"
    )


def _ramp(detector: object, clips: dict[str, Path], args: argparse.Namespace) -> int:
    sustained, failed = 0, False
    for n in range(args.start, args.max + 1, args.step):
        kinds = camera_kinds(n, args.kinds)
        r = run_box(detector, clips, kinds, args.seconds)
        print(_row(n, kinds, r), flush=True)
        _print_costs(r)
        if args.json is not None:
            with args.json.open("a", encoding="utf-8") as fh:
                record = {"n": n, "kinds": args.kinds, "load": os.getloadavg()[0], **r}
                fh.write(json.dumps(record) + "\n")
        if r["min_fps"] < 0.9 * DETECT_FPS or r["shed"] > 0:
            failed = True
            if not args.keep_going:
                break
        elif not failed:
            sustained = n
    return sustained


def main() -> None:
    """Ramp the camera count; print figures per step and the cameras sustained."""
    args = _args()
    detector = make_detector(
        [_spec("busy", 0, {"busy": CLIP})], precision=args.precision, backend=args.backend
    )
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.1f}")
    spec = detector.model.spec
    what = "mix 60/30/10 quiet/moderate/busy" if args.kinds == "mix" else f"all {args.kinds}"
    print(f"detector: {spec.key} on {detector.model.backend}; {what}")
    print(
        "CPU figures are thread CPU seconds per second of video (/proc), which other load on"
        " the machine does not inflate; fps, shed and latency are wall figures and do."
    )
    print(
        "| cameras | busy/mod/quiet | slowest fps | mean fps | shed | cores | RSS MiB | "
        "MiB/camera | latency p50 ms | p99 ms | load |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        clips = clips_in(args.clips or Path(tmp))
        sustained = _ramp(detector, clips, args)
    print(
        f"cameras sustained (every camera >= {0.9 * DETECT_FPS:g} fps, nothing shed): {sustained}"
    )


if __name__ == "__main__":
    main()

"""What a detect substream saves per camera: decode and detect-step cost, main vs substream.

    python -m bench.substream [--seconds 20] [--frames 80] [--repeats 3]

Makes H.264 clips of tests/data/vtest.avi with ffmpeg at the main profile's size (768x576)
and at two substream sizes a city camera offers (384x288, and CIF 352x288), and (marked *)
vtest upscaled to 1920x1080 for what decoding a full-HD main stream costs (the picture
gains no detail, but decode cost follows the pixel count), then measures:

- decode, the way `CameraReader` reads a 10 fps camera for 5 fps detection (grab every
  frame, convert to BGR only the kept ones): wall ms and process CPU ms per source frame,
  and the CPU share of one core a camera costs at 10 fps;
- the detect step of `CameraPipeline` on the kept frames (motion gate, the shipped detector
  on the gate's windows, merge, scale to main-stream pixels): ms per frame and detector
  calls per frame, with the motion gate on (defaults, `min_area` scaled) and off.

Median of `--repeats` runs; the machines are shared, so compare figures within one run, as
ratios, and read them with the load average printed beside them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from agent.config.camera import CameraSpec, MotionConfig
from agent.detect.object_detector import ObjectDetector
from agent.motion.gate import MotionGate
from agent.motion.windows import merge_window_detections
from agent.pipeline.coords import gate_config, to_main
from agent.pipeline.detector_setup import make_detector
from bench.machine import describe
from tests.support.media import make_clip

MAIN = (768, 576)
SIZES = {
    "main 768x576": MAIN,
    "sub 384x288": (384, 288),
    "sub CIF 352x288": (352, 288),
    "main 1920x1080 *": (1920, 1080),
}
SOURCE_FPS = 10.0  # vtest's rate, a typical city camera profile
KEEP_EVERY = 2  # 5 fps detection


def decode_cost(path: Path) -> tuple[float, float, int]:
    """(wall ms, CPU ms) per source frame, frames; retrieve only every KEEP_EVERY-th."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    count = 0
    wall, cpu = time.perf_counter(), time.process_time()
    while cap.grab():
        if count % KEEP_EVERY == 0:
            cap.retrieve()
        count += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    cap.release()
    return wall / count * 1000, cpu / count * 1000, count


def kept_frames(path: Path, limit: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames: list[np.ndarray] = []
    count = 0
    while len(frames) < limit and cap.grab():
        if count % KEEP_EVERY == 0:
            frames.append(cap.retrieve()[1])
        count += 1
    cap.release()
    return frames


def detect_step(
    detector: ObjectDetector, frames: list[np.ndarray], motion: bool
) -> tuple[float, float, float]:
    """(wall ms, CPU ms, detector calls) per frame of gate + detect + merge + scale."""
    h, w = frames[0].shape[:2]
    scale = (MAIN[0] / w, MAIN[1] / h)  # events in 768x576 pixels whatever the stream
    config = gate_config(MotionConfig(enabled=motion), scale)
    gate = MotionGate(config, detector.model.spec.input_hw[1])
    calls = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for k, frame in enumerate(frames):
        plan = gate.update(frame, k / (SOURCE_FPS / KEEP_EVERY))
        if len(plan.windows):
            found = detector.detect(plan.crops(frame))
            to_main(merge_window_detections(plan.windows, found, frame.shape[:2]), scale)
            calls += plan.calls
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = len(frames)
    return wall / n * 1000, cpu / n * 1000, calls / n


def median_of(runs: list[tuple[float, ...]]) -> tuple[float, ...]:
    return tuple(statistics.median(col) for col in zip(*runs, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="Clip length to decode.")
    parser.add_argument("--frames", type=int, default=80, help="Kept frames to detect on.")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {describe()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    detector = make_detector([CameraSpec(id="bench", source="x.avi")])
    print(f"detector: {detector.model.spec.name} on {detector.model.backend}")
    with tempfile.TemporaryDirectory() as tmp:
        clips = {
            name: make_clip(Path(tmp) / f"{w}x{h}.mp4", seconds=args.seconds, size=(w, h))
            for name, (w, h) in SIZES.items()
        }
        frames = {name: kept_frames(path, args.frames) for name, path in clips.items()}
        detect_step(detector, frames[next(iter(frames))][:5], motion=False)  # warm up
        runs: dict[str, list[tuple[float, ...]]] = {name: [] for name in clips}
        # Interleaved, so load that drifts during the run hits every stream alike.
        for _ in range(args.repeats):
            for name, path in clips.items():
                decode = decode_cost(path)[:2]
                gated = detect_step(detector, frames[name], True)
                full = detect_step(detector, frames[name], False)
                runs[name].append((*decode, *gated, *full))
    print(
        f"\n{'stream (h264)':<16} {'decode ms':>9} {'CPU ms':>7} {'core/cam':>8} | "
        f"{'gate: ms':>8} {'CPU ms':>7} {'calls':>5} | {'full: ms':>8} {'CPU ms':>7} {'calls':>5}"
    )
    for name in clips:
        dw, dc, gw, gc, gn, fw, fc, fn = median_of(runs[name])
        share = dc * SOURCE_FPS / 1000 * 100
        print(
            f"{name:<16} {dw:>9.2f} {dc:>7.2f} {share:>7.1f}% | "
            f"{gw:>8.1f} {gc:>7.1f} {gn:>5.2f} | {fw:>8.1f} {fc:>7.1f} {fn:>5.2f}"
        )
    print(
        "decode: per source frame (grab all, BGR for 5 of 10 fps); core/cam: CPU share of one "
        "core to decode a 10 fps camera. detect: per kept frame, gate on (defaults) / full frame."
    )
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

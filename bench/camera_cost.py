"""CPU a camera of each kind costs, step by step, on one thread: where a box's cores go.

    python -m bench.camera_cost [--frames 150] [--kinds quiet moderate busy]

The city clips of `bench.city_box` (quiet, moderate, busy: real vtest footage, see there),
read at 5 detect fps and put through what a camera's threads do in `EdgeBox`, one step
after another on this thread: decode (grab every frame of the 10 fps clip, retrieve the
kept ones), the motion gate, the detector on the gate's crops (the shared worker's share),
tracking, the line/zone/traffic rules, the abandoned rule with its static-object model
(which the pipeline feeds the frame), event minting. Each step is timed in process CPU
time (`time.process_time`: this thread plus the pools it wakes, ONNX Runtime's and
OpenCV's), which other processes on a shared machine do not inflate the way they
inflate wall time. Printed per kind: CPU ms per frame and CPU ms per second of
video (x 5 fps) per step, and how many cameras of that kind 2 cores would serve if CPU
were the only limit (derived: 2000 ms/s over the sum).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from agent.config.camera import load_camera_spec
from agent.detect.object_detector import ObjectDetector
from agent.events.convert import EventMinter
from agent.motion.gate import STILL, TRACKED, MotionGate
from agent.motion.windows import merge_window_detections
from agent.pipeline.detector_setup import make_detector
from agent.pipeline.stage import CameraStage
from bench.city_box import CAMERA, DETECT_FPS, KINDS, clips_in
from bench.machine import describe

STEPS = ("decode", "gate", "detect", "track", "rules", "abandoned", "events")


def _frames(path: Path, count: int) -> tuple[list[np.ndarray], list[float]]:
    """Kept frames (every 2nd of the 10 fps clip) and the decode CPU ms charged to each (FFmpeg's
    decoder threads included)."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    images: list[np.ndarray] = []
    costs: list[float] = []
    spent, index = 0.0, 0
    while len(images) < count:
        t0 = time.process_time()
        if not cap.grab():
            break
        image = cap.retrieve()[1] if index % 2 == 0 else None
        spent += time.process_time() - t0
        index += 1
        if image is not None:
            images.append(image)
            costs.append(spent * 1000)
            spent = 0.0
    cap.release()
    return images, costs


def kind_costs(
    detector: ObjectDetector, clip: Path, frames: int, skip_tracked: int | None = None
) -> dict[str, list[float]]:
    """CPU ms per frame of each step for one camera of this clip (see the module docstring).

    `skip_tracked`: `motion.skip_tracked_frames` for this run (None: the example camera's).
    """
    spec = load_camera_spec(CAMERA, source=str(clip), realtime=False)
    if skip_tracked is not None:
        motion = spec.motion.model_copy(update={"skip_tracked_frames": skip_tracked})
        spec = spec.model_copy(update={"motion": motion})
    images, decode = _frames(clip, frames)
    gate = MotionGate(spec.motion, detector.model.spec.input_hw[1])
    stage = CameraStage(spec, detector.labels, EventMinter(spec.id))
    analytics = stage.analytics
    costs: dict[str, list[float]] = defaultdict(list)
    costs["decode"] = decode
    detector.detect(images[:1])  # warm-up: the first call of a shape is not what it costs
    for k, image in enumerate(images):
        t = 1_700_000_000.0 + k / DETECT_FPS
        marks = [time.process_time()]
        tracker = analytics.tracker  # read by the gate, as in CameraPipeline
        plan = gate.update(image, t, tracker.live_boxes(), tracker.settled)
        marks.append(time.process_time())
        found = detector.detect(plan.crops(image)) if len(plan.windows) else []
        dets = merge_window_detections(plan.windows, found, image.shape[:2])
        marks.append(time.process_time())
        predict = plan.reason == TRACKED
        tracks = analytics.track(
            dets, t, hold=plan.reason == STILL, predict=predict, bounds=image.shape[:2]
        )
        marks.append(time.process_time())
        events = [
            e
            for rule in analytics.rules
            if rule is not analytics.abandoned
            for e in rule.update(tracks, t, predicted=predict)
        ]
        marks.append(time.process_time())
        if analytics.abandoned is not None:
            events += analytics.abandoned.update(
                tracks, t, image, dets, motion=bool(len(plan.motion)), predicted=predict
            )
        marks.append(time.process_time())
        stage.minter.mint_all(events)
        marks.append(time.process_time())
        costs["calls"].append(plan.calls)
        for name, a, b in zip(STEPS[1:], marks, marks[1:], strict=False):
            costs[name].append((b - a) * 1000)
    return costs


def main() -> None:
    """Print CPU ms per frame and per second of video, by step, for each camera kind."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--frames", type=int, default=150, help="kept frames per kind")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS)[::-1])
    parser.add_argument("--clips", type=Path, default=None, help="keep the built clips here")
    parser.add_argument("--threads", type=int, default=None, help="detector threads")
    parser.add_argument(
        "--skip-tracked",
        type=int,
        nargs="+",
        default=[None],
        metavar="N",
        help="motion.skip_tracked_frames to run each kind with (default: the example "
        "camera's); several values give one row each, e.g. --skip-tracked 0 1",
    )
    args = parser.parse_args()
    detector = make_detector([load_camera_spec(CAMERA)], threads=args.threads)
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.1f}")
    print(
        f"detector: {detector.model.spec.key} on {detector.model.backend}; process CPU ms; "
        f"OpenCV threads {cv2.getNumThreads()}"
    )
    print(
        "| kind | skip_tracked | " + " | ".join(STEPS) + " | total ms/frame | ms/s at 5 fps "
        "| cameras/2 cores | detector calls/frame |"
    )
    print("|---|---:|" + "---:|" * (len(STEPS) + 4))
    with tempfile.TemporaryDirectory() as tmp:
        clips = clips_in(args.clips or Path(tmp))
        for kind in args.kinds:
            for skip in args.skip_tracked:
                _row(kind, skip, kind_costs(detector, clips[kind], args.frames, skip))
    print(f"load average after: {os.getloadavg()[0]:.1f}")


def _row(kind: str, skip: int | None, costs: dict[str, list[float]]) -> None:
    means = [float(np.mean(costs[s])) for s in STEPS]
    per_s = sum(means) * DETECT_FPS
    calls = float(np.mean(costs["calls"]))
    print(
        f"| {kind} | {'default' if skip is None else skip} | "
        + " | ".join(f"{m:.2f}" for m in means)
        + f" | {sum(means):.2f} | {per_s:.0f} | {2000 / per_s:.0f} | {calls:.2f} |",
        flush=True,
    )


if __name__ == "__main__":
    main()

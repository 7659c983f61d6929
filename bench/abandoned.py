"""Abandoned objects on real footage: per scenario, and false alerts over the whole of vtest.

    python -m bench.abandoned [--scenarios left,sitting] [--no-vtest] [--backend openvino]

1. Every scenario of scripts/make_abandoned_clip.py (clips rebuilt from
   tests/data/vtest.avi into a temporary directory) goes through the real pipeline
   (reader, motion gate, shipped INT8 detector, ByteTrack, static-object model, rule) with
   the rule settings of tests/pipeline/test_pipeline_abandoned.py (stationary 8 s,
   unattended 6 s). Printed: expected and raised alerts, delay from the bag being put down
   to the alert, IoU of the alert's box with the labelled bag, and the static-object
   model's cost per frame in ms and as a share of the pipeline's wall time per frame.
2. The whole of vtest.avi (795 frames, 79.5 s; nothing is left behind in it) with the
   default rule settings and with the short ones: false alerts, and per camera-hour.

Timings on a shared machine vary: compare the ratios of one run (the load average is
printed before and after).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.config.camera import CameraSpec
from agent.detect.object_detector import ObjectDetector
from agent.detections import box_iou
from agent.events.types import EventKind
from agent.pipeline.offline import analyze_video
from bench.machine import describe
from scripts import make_abandoned_clip as clips

ROOT = Path(__file__).resolve().parent.parent
VTEST = ROOT / "tests" / "data" / "vtest.avi"
SHORT_RULE = {"stationary_seconds": 8, "unattended_seconds": 6, "clear_seconds": 3}


@dataclass(frozen=True)
class Run:
    alerts: list[tuple[int, Any]]  # (frame number, event)
    cleared: int
    frames: int
    static_s: float  # time in the static-object model
    wall_s: float


def analyse(video: Path, rule: dict, detector: ObjectDetector) -> Run:
    spec = CameraSpec(id=video.stem, source=str(video), abandoned=rule)
    analysis = analyze_video(video, spec, detector)
    rule_obj = analysis.stage.analytics.abandoned
    assert rule_obj is not None
    spent = [0.0]
    update: Callable[..., Any] = rule_obj.static.update

    def timed(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return update(*args)
        finally:
            spent[0] += time.perf_counter() - started

    rule_obj.static.update = timed  # type: ignore[method-assign,assignment]
    alerts, cleared, frames, started = [], 0, 0, time.perf_counter()
    for frame in analysis:
        frames += 1
        alerts += [(frame.number, e) for e in frame.events if e.kind is EventKind.ABANDONED]
        cleared += sum(e.kind is EventKind.ABANDONED_CLEARED for e in frame.events)
    return Run(alerts, cleared, frames, spent[0], time.perf_counter() - started)


def scenario_row(name: str, detector: ObjectDetector, tmp: Path) -> str:
    clip = tmp / f"{name}.avi"
    truth = clips.make_clip(name, clip)
    run = analyse(clip, SHORT_RULE, detector)
    delay = iou = "-"
    if run.alerts and truth["put_frame"] is not None:
        number, alert = run.alerts[0]
        delay = f"{(number - truth['put_frame']) / 10.0:.1f}"
        bag = truth["bag_boxes"].get(str(number))
        if bag is not None and alert.box is not None:
            iou = f"{box_iou(np.array([alert.box]), np.array([bag]))[0, 0]:.2f}"
    ms = 1000 * run.static_s / max(run.frames, 1)
    share = run.static_s / max(run.wall_s, 1e-9)
    expect = "1" if truth["expect_alert"] else "0"
    labels = ",".join(e.label for _, e in run.alerts) or "-"
    return (
        f"| {name} | {expect} | {len(run.alerts)} | {run.cleared} | {labels} | {delay} | {iou} "
        f"| {ms:.1f} | {100 * share:.1f} % |"
    )


def vtest_rows(detector: ObjectDetector) -> list[str]:
    rows = []
    hours = 795 / 10.0 / 3600.0
    for label, rule in (("defaults (30 s / 20 s)", {}), ("short (8 s / 6 s)", SHORT_RULE)):
        run = analyse(VTEST, rule, detector)
        share = run.static_s / max(run.wall_s, 1e-9)
        rows.append(
            f"| vtest.avi, {label} | {len(run.alerts)} | {len(run.alerts) / hours:.0f} "
            f"| {100 * share:.1f} % | {[(n, e.label, e.box) for n, e in run.alerts]} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scenarios", default=",".join(clips.SCENARIOS))
    parser.add_argument("--no-vtest", action="store_true", help="skip the whole-clip run")
    parser.add_argument(
        "--backend", default="auto", help="inference backend: auto, onnxruntime or openvino"
    )
    args = parser.parse_args()
    from agent.pipeline.detector_setup import make_detector

    detector = make_detector([CameraSpec(id="bench", source="x.avi")], backend=args.backend)
    print(describe())
    print(f"backend {args.backend}; load average {_load()}")
    print(
        "| scenario | expected | alerts | cleared | label | delay s | IoU "
        "| static ms/frame | share |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.scenarios.split(","):
            print(scenario_row(name, detector, Path(tmp)), flush=True)
    if not args.no_vtest:
        print("\n| run | false alerts | per camera-hour | static share | alerts |")
        print("|---|---|---|---|---|")
        for row in vtest_rows(detector):
            print(row, flush=True)
    print(f"load average {_load()}")


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()

"""Traffic flow against known motion: counts, lanes, directions, speed, density, wrong way.

    python -m bench.traffic [--scenario NAME ...] [--tracker default|vehicles] [--clips DIR]

Builds each clip of scripts/make_traffic_clip.py (real vtest.avi frames, its own parked
van and car driven along the road at known speeds; cached in --clips), runs it through the
real pipeline (reader, motion gate, INT8 detector, ByteTrack, line + traffic rule) at the
camera's detect rate, and scores the rule against the clip's truth JSON: vehicles matched
by crossing time (1 s), lane and direction of each, speed error (median and worst, km/h
and %), per-interval counts and flow, density and congestion against the constructed
density, and the wrong-way alerts. docs/traffic.md has the figures and what they mean.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from agent.analytics import traffic_eval
from agent.analytics.traffic import Passage
from agent.config.camera import CameraSpec
from agent.detect.object_detector import ObjectDetector
from agent.events.types import WrongWay
from agent.pipeline.offline import analyze_video
from bench.machine import describe
from proto.oko.v1 import events_pb2

ROOT = Path(__file__).resolve().parent.parent
LINE_ID = "road"
INTERVAL_S = 10.0
VEHICLE_CLASSES = ("car", "truck", "bus", "motorcycle", "bicycle")
TRACKERS: dict[str, dict[str, Any]] = {
    "default": {},
    # What docs/traffic.md recommends for vehicles (see there why).
    "vehicles": {
        "new_track_threshold": 0.35,
        "high_threshold": 0.3,
        "match_buffer": 1.0,
        "match_iou": 0.15,
        "unconfirmed_match_iou": 0.15,
    },
}


def clip_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_traffic_clip", ROOT / "scripts" / "make_traffic_clip.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def scenario_spec(
    doc: Mapping[str, Any], clip: Path, tracker: Mapping[str, Any], detect_fps: float = 5.0
) -> CameraSpec:
    """The camera a person would configure for this clip's road (one-way for wrong_way)."""
    rule: dict[str, Any] = {
        "line_id": LINE_ID,
        "interval_seconds": INTERVAL_S,
        "calibration": doc["calibration"],
        "lanes": doc["lanes"],
    }
    if doc["scenario"] == "wrong_way":
        rule["expected_direction"] = "in"
    line = {"id": LINE_ID, "points": doc["line"], "classes": list(VEHICLE_CLASSES)}
    return CameraSpec(
        id=doc["scenario"],
        source=str(clip),
        detect_fps=detect_fps,
        tracker=dict(tracker),
        lines=[line],
        traffic=[rule],
    )


@dataclass(frozen=True)
class Run:
    doc: dict[str, Any]
    t0: float  # capture time of the clip's first frame
    passages: tuple[Passage, ...]
    intervals: tuple[traffic_eval.Interval, ...]
    wrong_way: tuple[tuple[int, float, int], ...]  # (track id, clip seconds, lane) per alert


def run_scenario(
    name: str,
    detector: ObjectDetector,
    clips: Path,
    tracker: Mapping[str, Any],
    detect_fps: float = 5.0,
) -> Run:
    """Make (or reuse) the clip and run it through the pipeline."""
    clip = clips / f"{name}.avi"
    truth_path = clip.with_suffix(".json")
    if clip.exists() and truth_path.exists():
        doc = json.loads(truth_path.read_text())
    else:
        clips.mkdir(parents=True, exist_ok=True)
        doc = clip_script().render(name, clip)
        truth_path.write_text(json.dumps(doc))
    spec = scenario_spec(doc, clip, tracker, detect_fps)
    analysis = analyze_video(clip, spec, detector)
    t0 = None
    wrong = []
    for frame in analysis:
        if t0 is None:
            t0 = frame.frame.capture_time - (frame.frame.index - 1) / doc["fps"]
        for e in frame.events:
            if isinstance(e.detail, WrongWay):
                wrong.append((e.track_id, e.capture_time - t0, e.detail.lane))
    assert t0 is not None, f"{clip}: no frames"
    flow = analysis.stage.analytics.traffic[LINE_ID]
    intervals = []
    for msg in analysis.result().events:
        if msg.WhichOneof("body") == "traffic_flow":
            f = msg.traffic_flow
            intervals.append(
                traffic_eval.Interval(
                    f.interval_start.ToNanoseconds() / 1e9,
                    f.interval_seconds,
                    sum(f.counts.values()),
                    f.density_per_km / max(f.lanes, 1),
                    events_pb2.TrafficFlow.Congestion.Name(f.congestion)
                    .removeprefix("CONGESTION_")
                    .lower(),
                )
            )
    return Run(doc, t0, tuple(flow.passages), tuple(intervals), tuple(wrong))


def report(run: Run, thresholds: tuple[float, float, float]) -> dict[str, Any]:
    """Every figure of one run, as printed (and as docs/traffic.md quotes them)."""
    truth = traffic_eval.true_vehicles(run.doc)
    score = traffic_eval.match(truth, run.passages, run.t0)
    by_track = {p.track_id: t.id for t, p in score.pairs}
    expected = traffic_eval.true_intervals(run.doc, run.t0, INTERVAL_S, thresholds)
    intervals = []
    for iv in run.intervals:
        want = expected.get(iv.start)
        intervals.append(
            {
                "start_s": round(iv.start - run.t0, 1),
                "count": iv.count,
                "true_count": want.count if want else None,
                "flow_per_min": round(iv.count * 60 / iv.seconds, 1),
                "density": round(iv.density_per_km_lane, 1),
                "true_density": round(want.density_per_km_lane, 1) if want else None,
                "congestion": iv.congestion,
                "true_congestion": want.congestion if want else None,
            }
        )
    return {
        **traffic_eval.summarise(score),
        "wrong_way_alerts": [
            {"vehicle": by_track.get(tid), "at_s": round(t, 1), "lane": lane}
            for tid, t, lane in run.wrong_way
        ],
        "intervals": intervals,
    }


def main() -> None:
    script = clip_script()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scenario", nargs="*", default=sorted(script.SCENARIOS))
    parser.add_argument("--tracker", nargs="*", default=sorted(TRACKERS), choices=sorted(TRACKERS))
    parser.add_argument("--fps", type=float, default=5.0, help="detect rate (camera default 5)")
    parser.add_argument("--clips", type=Path, default=Path("/tmp/oko-traffic-clips"))
    args = parser.parse_args()
    from agent.pipeline.detector_setup import make_detector

    detector = make_detector([CameraSpec(id="any", source="x.avi")])
    print(describe())
    for tracker in args.tracker:
        for name in args.scenario:
            run = run_scenario(name, detector, args.clips, TRACKERS[tracker], args.fps)
            rule = scenario_spec(run.doc, Path("x.avi"), {}).traffic[0]
            out = report(run, rule.congestion_density_per_km_lane)
            print(f"\n== {name} (tracker: {tracker}, detect {args.fps:g} fps)")
            print(json.dumps(out, indent=None))


if __name__ == "__main__":
    main()

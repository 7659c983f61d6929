"""Line-crossing accuracy of detector + ByteTrack + LineCounter against the hand labels.

    python -m bench.line_crossings [--precision int8] [--fps 5 10]

Runs the shipped detector over tests/data/vtest.avi at each detect rate, then counts the
labelled line (tests/data/labels/vtest_line_crossings.json) with a few tracker/line
settings, and prints matched / missed / extra crossings (same direction within 1 s) and the
number of track ids. Each recording of the spliced clip gets its own tracker.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from agent.analytics.camera import CameraAnalytics
from agent.config.analytics import CameraAnalyticsConfig
from agent.detections import Detections
from agent.events.types import LineCrossed
from bench.machine import describe

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "tests" / "data" / "vtest.avi"
TRUTH = ROOT / "tests" / "data" / "labels" / "vtest_line_crossings.json"
CUT_AFTER = 403
SETTINGS: dict[str, dict[str, dict[str, float]]] = {
    "default": {},
    "min_hits=2": {"tracker": {"min_hits": 2}},
    "no buffered IoU": {"tracker": {"match_buffer": 0.0}},
    "hysteresis 0 px": {"line": {"hysteresis_px": 0}},
    "hysteresis 20 px": {"line": {"hysteresis_px": 20}},
}


def detect(every: int, precision: str) -> tuple[list[tuple[int, Detections]], tuple[str, ...]]:
    from agent.detect.object_detector import ObjectDetector
    from agent.inference.backend import load_model
    from agent.media import read_media

    detector = ObjectDetector(load_model("nanodet-m", precision), score_threshold=0.1)
    frames = list(read_media(CLIP, every=every))
    out = []
    for k in range(0, len(frames), 8):
        chunk = frames[k : k + 8]
        out += [
            (i, d) for (i, _), d in zip(chunk, detector.detect([f for _, f in chunk]), strict=True)
        ]
    return out, detector.labels


def score(counted: list[tuple[int, str]], truth: list[dict]) -> tuple[int, int, int]:
    left = list(counted)
    matched = 0
    for c in truth:
        near = [x for x in left if x[1] == c["direction"] and abs(x[0] - c["frame"]) <= 10]
        if near:
            left.remove(min(near, key=lambda x: abs(x[0] - c["frame"])))
            matched += 1
    return matched, len(truth) - matched, len(left)


def run(
    frames: list[tuple[int, Detections]],
    labels: tuple[str, ...],
    line: dict,
    setting: dict[str, dict[str, float]],
) -> tuple[list[tuple[int, str]], int]:
    config = CameraAnalyticsConfig.model_validate(
        {
            "tracker": setting.get("tracker", {}),
            "lines": [
                {
                    "id": "road",
                    "points": [line["p1"], line["p2"]],
                    "classes": ["person"],
                    **setting.get("line", {}),
                }
            ],
        }
    )
    counted: list[tuple[int, str]] = []
    ids = 0
    for part in ([f for f in frames if f[0] <= CUT_AFTER], [f for f in frames if f[0] > CUT_AFTER]):
        camera = CameraAnalytics(config, labels)
        seen: set[int] = set()
        for i, d in part:
            result = camera.update(d, i / 10.0)
            seen.update(result.tracks.tracker_id.tolist())
            counted += [(i, e.detail_as(LineCrossed).direction) for e in result.events]
        ids += len(seen)
    return counted, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--precision", default="int8", choices=["int8", "fp32"])
    parser.add_argument("--fps", type=int, nargs="*", default=[5, 10])
    args = parser.parse_args()
    truth = json.loads(TRUTH.read_text())
    print(f"machine: {describe()}")
    print(f"labelled crossings: {len(truth['crossings'])}; nanodet-g {args.precision}")
    print(
        f"{'fps':>3} {'setting':<18} {'matched':>7} {'missed':>6} {'extra':>5} {'ids':>4} "
        f"{'ms/frame':>8}"
    )
    for fps in args.fps:
        frames, labels = detect(10 // fps, args.precision)
        for name, setting in SETTINGS.items():
            t0 = time.perf_counter()
            counted, ids = run(frames, labels, truth["line"], setting)
            ms = (time.perf_counter() - t0) * 1000 / len(frames)
            matched, missed, extra = score(counted, truth["crossings"])
            print(f"{fps:>3} {name:<18} {matched:>7} {missed:>6} {extra:>5} {ids:>4} {ms:>8.2f}")


if __name__ == "__main__":
    main()

"""Detector accuracy on the hand-labelled vtest frames, per model, backend and precision.

    python -m bench.detector_accuracy [--models nanodet-g yolov5s] [--scales 1 0.333]

Prints person precision/recall at IoU 0.5 (VOC rule for `difficult` boxes) at the shipped
threshold and a sweep around it, vehicle recall, and FP32-vs-INT8 box agreement (strict
one-to-one for persons; every class with a 0.05 score margin), on the frames as recorded
and shrunk (0.333: people ~30 px, as a wider or farther camera sees them). Optional models
(yolov5s, `make models EXTRA=yolov5s`) are measured when built and reported absent if not.
Labels and how they were made: tests/data/labels/vtest_boxes.json, docs/labelling.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.detect.evaluation import (
    LabelledFrame,
    detect_all,
    load_labelled_frames,
    precision_agreement,
    score_class,
    shrunk,
)
from agent.detect.object_detector import ObjectDetector
from agent.detections import Detections
from agent.inference.backend import available_backends, load_model
from agent.inference.manifest import OPTIONAL_MODELS, load_manifest
from bench.machine import describe

LABELS = Path(__file__).resolve().parent.parent / "tests/data/labels/vtest_boxes.json"
VEHICLES = ["car", "truck", "bus", "motorcycle", "bicycle"]
Key = tuple[str, float, str, str]  # model, scale, backend, precision


def _models(asked: list[str] | None) -> list[str]:
    names = load_manifest().names()
    wanted = asked or ["nanodet-g", *OPTIONAL_MODELS]
    for name in wanted:
        if name not in names:
            print(f"{name}: not built here (optional; `make models EXTRA={name}`), skipped")
    return [n for n in wanted if n in names]


def _rows(key: Key, frames: list[LabelledFrame], low: dict[Key, list[Detections]]) -> None:
    name, scale, backend, precision = key
    model = load_model(name, precision, backend, threads=2)
    shipped = float(model.spec.defaults["score_threshold"])
    detector = ObjectDetector(model, score_threshold=min(0.25, shipped - 0.1))
    vehicle_ids = [detector.labels.index(v) for v in VEHICLES]
    dets = detect_all(detector.detect, frames)
    low[key] = dets
    for t in (shipped - 0.1, shipped - 0.05, shipped, shipped + 0.05):
        cut = [d[d.confidence >= t] for d in dets]
        p = score_class(frames, cut, [0], ["person"])
        v = score_class(frames, cut, vehicle_ids, VEHICLES)
        mark = " (shipped)" if t == shipped else ""
        print(
            f"| {name} | {scale:g} | {backend} | {precision} | {t:.2f}{mark} | "
            f"{p.precision:.3f} | {p.recall:.3f} | {p.true_positives} | {p.false_positives} | "
            f"{p.false_negatives} | {v.recall:.3f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", help="default: nanodet-g and built optional ones")
    parser.add_argument("--scales", nargs="*", type=float, default=[1.0, 1 / 3])
    args = parser.parse_args()
    print(f"machine: {describe()}")
    frames = load_labelled_frames(LABELS)
    print(f"labelled frames: {len(frames)}")
    models = _models(args.models)
    print()
    print(
        "| model | scale | backend | precision | threshold | person P | person R | TP | FP | "
        "FN | vehicle R |"
    )
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    low: dict[Key, list[Detections]] = {}
    for scale in args.scales:
        scaled = frames if scale == 1.0 else shrunk(frames, scale)
        for name in models:
            for backend in available_backends():
                for precision in ("fp32", "int8"):
                    _rows((name, scale, backend, precision), scaled, low)
    print()
    print("| model | scale | backend | persons strict FP32~INT8 | all classes, 0.05 margin |")
    print("|---|---:|---|---:|---:|")
    for (name, scale, backend, precision), fp32 in low.items():
        if precision != "fp32":
            continue
        shipped = float(load_manifest().get(name, "fp32").defaults["score_threshold"])
        r = precision_agreement(fp32, low[(name, scale, backend, "int8")], shipped, 0.05)
        print(
            f"| {name} | {scale:g} | {backend} | {r.persons_matched}/{r.persons_total} = "
            f"{r.persons:.3f} | {r.agreed}/{r.total} = {r.all_classes:.3f} |"
        )


if __name__ == "__main__":
    main()

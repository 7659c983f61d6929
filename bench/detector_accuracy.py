"""Detector accuracy on the hand-labelled vtest frames, per backend and precision.

    python -m bench.detector_accuracy

Prints person precision/recall at IoU 0.5 (VOC rule for `difficult` boxes) at the shipped
threshold and a sweep around it, vehicle recall, and FP32-vs-INT8 box agreement (strict
one-to-one for persons; every class with a 0.05 score margin). Labels and how they were
made: tests/data/labels/vtest_boxes.json, docs/labelling.md.
"""

from __future__ import annotations

from pathlib import Path

from agent.detect.evaluation import (
    detect_all,
    load_labelled_frames,
    precision_agreement,
    score_class,
)
from agent.detect.object_detector import ObjectDetector
from agent.inference.backend import available_backends, load_model
from bench.machine import describe

LABELS = Path(__file__).resolve().parent.parent / "tests/data/labels/vtest_boxes.json"
VEHICLES = ["car", "truck", "bus", "motorcycle", "bicycle"]


def main() -> None:
    print(f"machine: {describe()}")
    frames = load_labelled_frames(LABELS)
    print(f"labelled frames: {len(frames)}")
    print()
    print("| backend | precision | threshold | person P | person R | TP | FP | FN | vehicle R |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    low = {}
    for backend in available_backends():
        for precision in ("fp32", "int8"):
            model = load_model("nanodet-m", precision, backend, threads=2)
            shipped = float(model.spec.defaults["score_threshold"])
            detector = ObjectDetector(model, score_threshold=0.25)
            labels = detector.labels
            vehicle_ids = [labels.index(v) for v in VEHICLES]
            dets = detect_all(detector.detect, frames)
            low[(backend, precision)] = dets
            for t in sorted({0.35, 0.4, shipped, 0.5}):
                cut = [d[d.confidence >= t] for d in dets]
                p = score_class(frames, cut, [0], ["person"])
                v = score_class(frames, cut, vehicle_ids, VEHICLES)
                mark = " (shipped)" if t == shipped else ""
                print(
                    f"| {backend} | {precision} | {t:.2f}{mark} | {p.precision:.3f} | "
                    f"{p.recall:.3f} | {p.true_positives} | {p.false_positives} | "
                    f"{p.false_negatives} | {v.recall:.3f} |",
                    flush=True,
                )
    print()
    print("| backend | persons strict FP32~INT8 | all classes, 0.05 margin |")
    print("|---|---:|---:|")
    for backend in available_backends():
        r = precision_agreement(low[(backend, "fp32")], low[(backend, "int8")], shipped, 0.05)
        print(
            f"| {backend} | {r.persons_matched}/{r.persons_total} = {r.persons:.3f} | "
            f"{r.agreed}/{r.total} = {r.all_classes:.3f} |"
        )


if __name__ == "__main__":
    main()

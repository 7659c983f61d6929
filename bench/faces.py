"""Faces: detector recall vs face size on labelled faces, and ms per head crop.

    python -m bench.faces [--runs 20] [--threads 2] [--backend onnxruntime] [--no-recall]

Recall and precision per face-width bin for CenterFace and BlazeFace-back on the labelled
Solvay faces (`bench.face_recall`), usable faces found in real vtest.avi head crops, then
timing.

Head crops are real: NanoDet's person boxes on tests/data/{astronaut.png, grace_hopper.jpg,
messi5.jpg}, cut with the analyzer's own head geometry (`agent.faces.quality.head_regions`),
at full size and at half and quarter scale (so the face is 9-190 px). Batch 1 is one crop
per call; batch 8 is what `FaceAnalyzer` does with 8 tracks in one frame (one detector call,
one embedder call). Stages are timed separately (median over runs) and summed; the
machine line says what they ran on. Shared machines are noisy: compare rows as ratios.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.machine import describe

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ("astronaut.png", "grace_hopper.jpg", "messi5.jpg")
DETECTORS = ("centerface", "blazeface-back")


def head_crops() -> list[np.ndarray]:
    """Nine real head crops (three people x three scales)."""
    from agent.detect.object_detector import ObjectDetector
    from agent.faces.quality import head_regions
    from agent.inference.backend import load_model

    detector = ObjectDetector(load_model("nanodet-m", "fp32", "onnxruntime"))
    crops = []
    for name in PHOTOS:
        image = cv2.imread(str(ROOT / "tests" / "data" / name))
        if image is None:
            raise SystemExit(f"cannot read tests/data/{name}")
        (found,) = detector.detect([image])
        people = found[found.class_id == 0]
        best = people.xyxy[int(np.argmax(people.confidence))][None]
        ((x1, y1, x2, y2),) = head_regions(best, image.shape[:2])
        crop = image[y1:y2, x1:x2]
        crops += [
            cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            for s in (1.0, 0.5, 0.25)
        ]
    return crops


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def measure(
    backend: str,
    threads: int,
    runs: int,
    batch: int,
    crops: list[np.ndarray],
    *,
    detector_name: str = "centerface",
) -> dict[str, float]:
    from agent.faces.align import align_face
    from agent.faces.embedding import FaceEmbedder
    from agent.faces.face_detector import FaceDetector
    from agent.inference.backend import load_model

    detector = FaceDetector(load_model(detector_name, "fp32", backend, threads))
    embedder = FaceEmbedder(load_model("faceres", "fp32", backend, threads))
    chosen = (crops * batch)[:batch]
    faces = detector.detect(chosen)
    # Align the best face of each crop (a crop where none is found reuses the first face).
    keypoints = [f.keypoints[0] if len(f) and f.keypoints is not None else None for f in faces]
    fallback = next(k for k in keypoints if k is not None)
    pairs = [(c, k if k is not None else fallback) for c, k in zip(chosen, keypoints, strict=True)]

    def align() -> np.ndarray:
        return np.stack([align_face(c, k, embedder.size) for c, k in pairs])

    aligned = align()
    detect_ms = median_ms(lambda: detector.detect(chosen), runs)
    align_ms = median_ms(align, runs)
    embed_ms = median_ms(lambda: embedder.embed(aligned), runs)
    per = {"detect": detect_ms / batch, "align": align_ms / batch, "embed": embed_ms / batch}
    per["total"] = sum(per.values())
    return per


def main(argv: list[str] | None = None) -> None:
    from agent.inference.backend import available_backends

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--backend",
        action="append",
        choices=available_backends(),
        help="repeatable; default: every installed backend",
    )
    parser.add_argument("--no-recall", action="store_true", help="timing only")
    args = parser.parse_args(argv)
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.1f}")
    if not args.no_recall:
        from bench.face_detectors import print_recall

        print_recall(args.threads)
    crops = head_crops()
    print(
        f"{len(crops)} real head crops, {args.runs} runs, {args.threads} threads, "
        "FP32 face detector + faceres; ms per head crop (median)"
    )
    print(
        f"{'detector':15s} {'backend':12s} {'batch':>5s} {'detect':>8s} {'align':>8s} "
        f"{'embed':>8s} {'total':>8s}"
    )
    for name in DETECTORS:
        for backend in args.backend or available_backends():
            for batch in (1, 8):
                r = measure(backend, args.threads, args.runs, batch, crops, detector_name=name)
                print(
                    f"{name:15s} {backend:12s} {batch:5d} {r['detect']:8.2f} {r['align']:8.2f} "
                    f"{r['embed']:8.2f} {r['total']:8.2f}"
                )


if __name__ == "__main__":
    main()

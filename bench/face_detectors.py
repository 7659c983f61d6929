"""CenterFace vs BlazeFace-back: recall/precision vs face width, and vtest head crops.

Run through ``python -m bench.faces`` (which prints this first). The labelled faces and the
matching rule are in `bench.face_recall`; the vtest protocol is here: NanoDet person boxes on
frames spread over tests/data/vtest.avi, cut with the faces analytic's own head geometry
(`agent.faces.quality.head_regions`), every crop through each detector. vtest has no face
labels (faces are 5-10 px), so there it counts crops with a face at or above a score, and
``--grid`` writes the crops CenterFace found faces in, for a person to check by eye.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from agent.detections import Detections
from agent.faces.face_detector import FaceDetector
from bench.face_recall import (
    Tally,
    format_table,
    head_crops,
    match,
    solvay_eyes,
    solvay_images,
)

ROOT = Path(__file__).resolve().parent.parent
DETECTORS = ("centerface", "blazeface-back")
VTEST_FRAMES = 40


def _load(name: str, threads: int) -> FaceDetector:
    from agent.inference.backend import load_model

    return FaceDetector(load_model(name, "fp32", "onnxruntime", threads))


def _native(detector: FaceDetector, image: np.ndarray) -> Detections:
    """CenterFace on the whole image at native scale (padded up to a multiple of 32)."""
    height, width = image.shape[:2]
    sized = FaceDetector(
        detector.model,
        detector.score_threshold,
        detector.nms_iou,
        input_hw=(-(-height // 32) * 32, -(-width // 32) * 32),
    )
    return sized.detect([image])[0]


def solvay_tallies(threads: int) -> tuple[dict[str, Tally], dict[str, float]]:
    """Per protocol the tally, and ms per call (head-crop batch of 29 or one frame)."""
    tallies: dict[str, Tally] = {}
    cost: dict[str, float] = {}
    images = [(item, item.load()) for item in solvay_images()]
    for name in DETECTORS:
        detector = _load(name, threads)
        tally, spent = Tally(), 0.0
        for item, image in images:
            crops, offsets = head_crops(image, item.boxes)
            start = time.perf_counter()
            per_crop = detector.detect(crops)
            spent += time.perf_counter() - start
            eyes = solvay_eyes(image.shape[1], image.shape[0])
            for i, (faces, offset) in enumerate(zip(per_crop, offsets, strict=True)):
                boxes = faces.xyxy + np.tile(offset, 2)
                hit, extra = match(item.boxes, boxes)
                own = np.zeros(len(item.boxes), bool)
                own[i] = hit[i]
                tally.add(item.boxes[i : i + 1], own[i : i + 1], extra, item.exhaustive)
                if hit[i] and faces.keypoints is not None:
                    k = _own_face(item.boxes[i], boxes)
                    got = faces.keypoints[k, :2] + offset
                    tally.eye_errors.append(_eye_error(got, eyes[i]))
        tallies[f"{name}, head crops"] = tally
        cost[f"{name}, head crops"] = spent / len(images) / len(images[0][0].boxes) * 1000
        if name == "centerface":
            tally, spent = Tally(), 0.0
            for item, image in images:
                start = time.perf_counter()
                found = _native(detector, image)
                spent += time.perf_counter() - start
                hit, extra = match(item.boxes, found.xyxy)
                tally.add(item.boxes, hit, extra, item.exhaustive)
            tallies[f"{name}, whole frame"] = tally
            cost[f"{name}, whole frame"] = spent / len(images) * 1000
    return tallies, cost


def _own_face(truth: np.ndarray, boxes: np.ndarray) -> int:
    """Index of the detection whose centre is nearest the labelled face's centre."""
    centre = (truth[:2] + truth[2:]) / 2
    return int(np.argmin(np.linalg.norm((boxes[:, :2] + boxes[:, 2:]) / 2 - centre, axis=1)))


def _eye_error(got: np.ndarray, truth: np.ndarray) -> float:
    """Mean eye-point error in labelled inter-eye distances (image-left eye first)."""
    return float(np.linalg.norm(got - truth, axis=1).mean() / np.linalg.norm(truth[1] - truth[0]))


def vtest_crops(frames: int = VTEST_FRAMES) -> list[np.ndarray]:
    """Head crops of NanoDet's persons on ``frames`` frames spread over vtest.avi."""
    from agent.detect.object_detector import ObjectDetector
    from agent.faces.quality import head_regions
    from agent.inference.backend import load_model

    people = ObjectDetector(load_model("nanodet-m", "fp32", "onnxruntime"))
    cap = cv2.VideoCapture(str(ROOT / "tests" / "data" / "vtest.avi"))
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    crops: list[np.ndarray] = []
    try:
        for index in np.linspace(0, count - 1, frames).astype(int).tolist():
            cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = cap.read()
            if not ok:
                continue
            (found,) = people.detect([frame])
            persons = found[found.class_id == 0]
            for x1, y1, x2, y2 in head_regions(persons.xyxy, frame.shape[:2]).tolist():
                if x2 - x1 >= 8 and y2 - y1 >= 8:
                    crops.append(frame[y1:y2, x1:x2])
    finally:
        cap.release()
    return crops


def vtest_counts(
    threads: int, crops: list[np.ndarray], grid: Path | None = None
) -> dict[str, tuple[int, int]]:
    """Per detector: crops with a face scoring >= 0.5 and >= 0.75 (the analytic's gate)."""
    counts = {}
    for name in DETECTORS:
        per_crop = _load(name, threads).detect(crops)
        best = np.array([float(f.confidence.max()) if len(f) else 0.0 for f in per_crop])
        counts[name] = (int((best >= 0.5).sum()), int((best >= 0.75).sum()))
        if grid is not None and name == "centerface":
            _write_grid(grid, crops, per_crop, best)
    return counts


def _write_grid(
    path: Path, crops: list[np.ndarray], per_crop: list[Detections], best: np.ndarray
) -> None:
    tiles = []
    for i in np.flatnonzero(best >= 0.5).tolist():
        tile = crops[i].copy()
        faces = per_crop[i]
        for x1, y1, x2, y2 in faces.xyxy[faces.confidence >= 0.5].astype(int).tolist():
            cv2.rectangle(tile, (x1, y1), (x2, y2), (0, 255, 0), 1)
        tile = cv2.resize(tile, (96, 96), interpolation=cv2.INTER_NEAREST)
        cv2.putText(tile, f"{best[i]:.2f}", (2, 12), 0, 0.4, (0, 255, 255), 1)
        tiles.append(tile)
    while len(tiles) % 10:
        tiles.append(np.zeros((96, 96, 3), np.uint8))
    if tiles:
        cv2.imwrite(
            str(path), np.vstack([np.hstack(tiles[k : k + 10]) for k in range(0, len(tiles), 10)])
        )


def print_recall(threads: int, grid: Path | None = None) -> None:
    """Print the Solvay table, its cost per call, and the vtest head-crop counts."""
    tallies, cost = solvay_tallies(threads)
    print(
        "Solvay 1927, 29 labelled faces x 6 sizes (4 published, 2 downscaled); "
        "found/labelled per face width"
    )
    for line in format_table(tallies):
        print(line)
    for name, ms in cost.items():
        unit = "per head crop (batch of 29)" if "crops" in name else "per whole frame (mean of 6)"
        print(f"  {name}: {ms:.1f} ms {unit}")
    crops = vtest_crops()
    counts = vtest_counts(threads, crops, grid)
    print(f"vtest.avi: {len(crops)} head crops of NanoDet persons on {VTEST_FRAMES} frames")
    for name, (loose, strict) in counts.items():
        print(f"  {name}: crops with a face >= 0.5: {loose}; >= 0.75: {strict}")

"""Box proposals for hand labelling, from sources independent of our detector.

Two proposers, both classical OpenCV: MOG2 background subtraction (foreground blobs, run over
the whole clip so the background model is warm at every labelled frame) and the HOG + linear
SVM people detector (run on a 2x upscaled frame, because its 64x128 window is taller than most
people in this footage). Proposals are only a starting point: every box is then checked and
corrected by eye (see docs/labelling.md), and parked vehicles, which MOG2 cannot see, are
added by hand.

Usage: python scripts/labelling/propose.py OUT.json FRAME [FRAME ...]

Needs OpenCV 4.x: OpenCV 5 (the project's pin) moved HOGDescriptor out of the main module, so
run it from a throw-away venv with ``pip install "opencv-python-headless<5"``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frames import iter_frames, save_json

MIN_BLOB_AREA = 60
HOG_UPSCALE = 2.0


def make_subtractor() -> cv2.BackgroundSubtractorMOG2:
    """MOG2 tuned for a static 10 fps camera: shadows detected so they can be dropped."""
    return cv2.createBackgroundSubtractorMOG2(history=300, varThreshold=25, detectShadows=True)


def foreground_blobs(mask: np.ndarray, min_area: int = MIN_BLOB_AREA) -> list[list[int]]:
    """Boxes of connected foreground regions (shadow pixels, value 127, excluded)."""
    fg = np.where(mask == 255, 255, 0).astype(np.uint8)
    opened = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    closed = cv2.morphologyEx(opened, cv2.MORPH_CLOSE, np.ones((7, 5), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(closed)
    boxes = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area >= min_area:
            boxes.append([int(x), int(y), int(x + w), int(y + h)])
    return boxes


def hog_people(frame: np.ndarray, hog: Any) -> list[list[int]]:
    """HOG people detections in source pixels."""
    big = cv2.resize(frame, None, fx=HOG_UPSCALE, fy=HOG_UPSCALE)
    rects, weights = hog.detectMultiScale(big, winStride=(8, 8), padding=(8, 8), scale=1.05)
    out = []
    for (x, y, w, h), wt in zip(rects, np.ravel(weights), strict=False):
        if wt < 0.3:
            continue
        box = np.array([x, y, x + w, y + h], dtype=float) / HOG_UPSCALE
        out.append([round(float(v)) for v in box])
    return out


def propose(frames: set[int]) -> dict[str, list[dict]]:
    """Run both proposers over the clip and keep the results at ``frames``."""
    sub = make_subtractor()
    if not hasattr(cv2, "HOGDescriptor"):
        raise SystemExit(f"OpenCV {cv2.__version__} has no HOGDescriptor; use opencv<5")
    # getattr: OpenCV 5 type stubs no longer declare the HOG API this script needs.
    hog = getattr(cv2, "HOGDescriptor")()  # noqa: B009
    hog.setSVMDetector(getattr(cv2, "HOGDescriptor_getDefaultPeopleDetector")())  # noqa: B009
    out: dict[str, list[dict]] = {}
    for index, frame in iter_frames():
        mask = sub.apply(frame)
        if index not in frames:
            continue
        props = [{"source": "mog2", "box": b} for b in foreground_blobs(mask)]
        props += [{"source": "hog", "box": b} for b in hog_people(frame, hog)]
        out[str(index)] = props
    return out


def main(argv: list[str]) -> None:
    """CLI entry: write proposals for the given frames to a JSON file."""
    out_path = Path(argv[0])
    frames = {int(a) for a in argv[1:]}
    save_json(out_path, {"frames": propose(frames)})


if __name__ == "__main__":
    main(sys.argv[1:])

"""Draft person boxes from a median background, to be corrected by eye.

The median of every 5th frame of the clip is an almost clean background plate (people keep
moving), so |frame - plate| marks people, including ones MOG2 has absorbed because they
stood still. Connected regions of that difference, closed vertically so head, torso and legs
join, become draft "person" boxes. Parked vehicles are part of the plate and are never
drafted: they are added by hand.

Usage: python scripts/labelling/draft.py OUT.json FRAME [FRAME ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frames import iter_frames, save_json

DIFF_THRESHOLD = 30
MIN_AREA = 50
# The red-white tape across the car park flaps in the wind; its difference strips are a few
# pixels tall, no person is, so short regions are dropped.
MIN_HEIGHT = 12


def background_plate(step: int = 5) -> np.ndarray:
    """Per-pixel median over every ``step``-th frame."""
    frames = [f for i, f in iter_frames() if i % step == 0]
    return np.median(np.stack(frames), axis=0).astype(np.uint8)


def diff_boxes(frame: np.ndarray, plate: np.ndarray) -> list[list[int]]:
    """Boxes of connected regions that differ from the plate."""
    diff = cv2.absdiff(frame, plate).max(axis=2)
    fg = (diff > DIFF_THRESHOLD).astype(np.uint8) * 255
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((9, 5), np.uint8))
    _, _, stats, _ = cv2.connectedComponentsWithStats(fg)
    return [
        [int(x), int(y), int(x + w), int(y + h)]
        for x, y, w, h, area in stats[1:]
        if area >= MIN_AREA and h >= MIN_HEIGHT
    ]


def main(argv: list[str]) -> None:
    """CLI entry: write draft boxes for the given frames."""
    out = Path(argv[0])
    wanted = {int(a) for a in argv[1:]}
    plate = background_plate()
    drafts: dict[str, list[dict]] = {}
    for index, frame in iter_frames():
        if index in wanted:
            drafts[str(index)] = [
                {"label": "person", "box": b, "difficult": False} for b in diff_boxes(frame, plate)
            ]
    save_json(out, {"frames": drafts})


if __name__ == "__main__":
    main(sys.argv[1:])

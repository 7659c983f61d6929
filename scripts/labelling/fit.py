"""Turn a hand-written region spec into tight boxes, then keep the human's overrides.

The labeller writes, per frame and object, a loose ``region`` drawn by eye around ONE object
(split at a column or row where people overlap), or an explicit ``box`` when the fit is wrong
(object coloured like the background, shadows, occluders). For a region the box is the
extent of the pixels that differ from the median background plate inside it; tiny specks
are ignored. Every resulting box is then inspected on zoomed sheets (sheet.py) and the spec
corrected until it looks right: the fit only saves reading pixel edges off a grid.

Usage: python scripts/labelling/fit.py SPEC.json OUT.json
SPEC: {"labeller": ..., "method": ..., "frames": {"<i>": [{"label", "difficult",
       "region" | "box", optional "note"}]}}
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from draft import DIFF_THRESHOLD, background_plate
from frames import iter_frames, load_json, save_json

MIN_SPECK = 12


def fit_region(
    frame: np.ndarray, plate: np.ndarray, region: tuple[int, int, int, int]
) -> list[int]:
    """Extent of background-different pixels inside ``region`` (whole region if none)."""
    x1, y1, x2, y2 = region
    diff = cv2.absdiff(frame[y1:y2, x1:x2], plate[y1:y2, x1:x2]).max(axis=2)
    fg = (diff > DIFF_THRESHOLD).astype(np.uint8)
    # A 3x3 opening removes the 1-2 px tape strips (it flaps, so it is not in the plate)
    # while keeping limbs, which are >= 4 px wide at this scale.
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg)
    keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= MIN_SPECK]
    if not keep:
        return [x1, y1, x2, y2]
    ys, xs = np.nonzero(np.isin(labels, keep))
    return [int(x1 + xs.min()), int(y1 + ys.min()), int(x1 + xs.max() + 1), int(y1 + ys.max() + 1)]


def fit_spec(spec: dict) -> dict:
    """Resolve every object of the spec to a box."""
    plate = background_plate()
    wanted = {int(k) for k in spec["frames"]}
    frames_out: dict[str, list[dict]] = {}
    for index, frame in iter_frames():
        if index not in wanted:
            continue
        objs = []
        for item in spec["frames"][str(index)]:
            box = item.get("box") or fit_region(frame, plate, tuple(item["region"]))
            extras = {k: v for k, v in item.items() if k not in {"region", "box"}}
            objs.append(
                {"label": item["label"], "box": box, "difficult": bool(item["difficult"])} | extras
            )
        frames_out[str(index)] = objs
    return {key: spec[key] for key in spec if key != "frames"} | {
        "frames": dict(sorted(frames_out.items(), key=lambda kv: int(kv[0])))
    }


def main(argv: list[str]) -> None:
    """CLI entry."""
    save_json(Path(argv[1]), fit_spec(load_json(Path(argv[0]))))


if __name__ == "__main__":
    main(sys.argv[1:])

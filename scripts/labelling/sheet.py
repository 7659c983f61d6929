"""Zoomed crop sheets: every object of a frame enlarged with a source-pixel grid, one PNG.

Checking a box edge to a few pixels needs a zoomed view; one sheet per frame (instead of one
image per object) keeps the by-eye pass fast. Each tile shows the region around one box
(margin added) at SCALE x, a 10 px grid labelled every 20 px in source pixels, and every box
of the frame that falls in the tile, drawn with thin lines.

Usage:
  python scripts/labelling/sheet.py OUT.png FRAME LABELS.json [SCALE] [--regions x1,y1,x2,y2 ...]

Without --regions the tiles are the boxes of LABELS.json for FRAME (grown by a margin).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frames import crop_zoom, draw_boxes, draw_grid, load_json, read_frames

MARGIN = 12
SHEET_WIDTH = 1400


def tile(
    frame: np.ndarray, region: tuple[int, int, int, int], objs: list[dict], scale: float, title: str
) -> np.ndarray:
    """One zoomed, gridded crop with boxes and a title bar."""
    h, w = frame.shape[:2]
    x1, y1 = max(0, region[0]), max(0, region[1])
    x2, y2 = min(w, region[2]), min(h, region[3])
    zoom = crop_zoom(frame, (x1, y1, x2, y2), scale)
    zoom = draw_boxes(zoom, objs, origin=(x1, y1), scale=scale)
    zoom = draw_grid(zoom, 10, origin=(x1, y1), scale=scale, label_every=2)
    bar = np.zeros((18, zoom.shape[1], 3), np.uint8)
    cv2.putText(bar, title, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    return np.vstack([bar, zoom])


def pack(tiles: list[np.ndarray], width: int = SHEET_WIDTH) -> np.ndarray:
    """Pack tiles left-to-right into rows no wider than ``width``."""
    rows: list[list[np.ndarray]] = [[]]
    used = 0
    for t in tiles:
        if rows[-1] and used + t.shape[1] > width:
            rows.append([])
            used = 0
        rows[-1].append(t)
        used += t.shape[1] + 4
    images = []
    for row in rows:
        height = max(t.shape[0] for t in row)
        padded = [np.pad(t, ((0, height - t.shape[0]), (0, 4), (0, 0))) for t in row]
        line = np.hstack(padded)
        images.append(np.pad(line, ((0, 4), (0, max(0, width - line.shape[1])), (0, 0))))
    return np.vstack([im[:, :width] if im.shape[1] > width else im for im in images])


def regions_from_objects(objs: list[dict]) -> list[tuple[int, int, int, int]]:
    """One region per box, grown by MARGIN so the edges can be judged against background."""
    return [
        (o["box"][0] - MARGIN, o["box"][1] - MARGIN, o["box"][2] + MARGIN, o["box"][3] + MARGIN)
        for o in objs
    ]


def main(argv: list[str]) -> None:
    """CLI entry."""
    out, frame_index, labels = argv[0], int(argv[1]), argv[2]
    rest = argv[3:]
    scale = float(rest.pop(0)) if rest and not rest[0].startswith("--") else 4.0
    raw = load_json(Path(labels))["frames"].get(str(frame_index), [])
    objs = [{"label": o.get("label", o.get("source", "?")), **o} for o in raw]
    if rest and rest[0] == "--regions":
        regions = []
        for text in rest[1:]:
            x1, y1, x2, y2 = (int(v) for v in text.split(","))
            regions.append((x1, y1, x2, y2))
    else:
        # Parked vehicles do not move; they are checked once on their own crops.
        regions = regions_from_objects([o for o in objs if o["label"] == "person"])
    frame = read_frames([frame_index])[frame_index]
    tiles = [tile(frame, r, objs, scale, f"f{frame_index} #{i} {r}") for i, r in enumerate(regions)]
    cv2.imwrite(out, pack(tiles))


if __name__ == "__main__":
    main(sys.argv[1:])

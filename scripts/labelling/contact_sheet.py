"""Contact sheets: one image region over consecutive frames, frame numbers printed on each.

Used to follow people through a region (e.g. the counting line) frame by frame without
opening hundreds of images. An optional line (two endpoints, source pixels) is drawn on each
tile so the moment a person's feet pass it can be read off directly.

Usage:
  python scripts/labelling/contact_sheet.py OUT.png X1 Y1 X2 Y2 FIRST LAST [STEP] [SCALE]
      [--line LX1,LY1,LX2,LY2] [--cols N]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frames import iter_frames


def make_sheet(
    region: tuple[int, int, int, int],
    frames: range,
    scale: float,
    line: tuple[int, int, int, int] | None,
    cols: int,
) -> np.ndarray:
    """Montage of ``region`` for every frame in ``frames``."""
    x1, y1, x2, y2 = region
    wanted = set(frames)
    tiles = []
    for index, frame in iter_frames():
        if index > frames.stop:
            break
        if index not in wanted:
            continue
        img = frame.copy()
        if line is not None:
            cv2.line(img, line[:2], line[2:], (0, 255, 255), 1)
        crop = cv2.resize(
            img[y1:y2, x1:x2],
            None,
            fx=scale,
            fy=scale,
            interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST,
        )
        cv2.rectangle(crop, (0, 0), (44, 14), (0, 0, 0), -1)
        cv2.putText(crop, str(index), (2, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1)
        tiles.append(np.pad(crop, ((0, 2), (0, 2), (0, 0))))
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i : i + cols]) for i in range(0, len(tiles), cols)]
    return np.vstack(rows)


def main(argv: list[str]) -> None:
    """CLI entry."""
    args = list(argv)
    line = None
    cols = 8
    if "--line" in args:
        k = args.index("--line")
        lx1, ly1, lx2, ly2 = (int(v) for v in args[k + 1].split(","))
        line = (lx1, ly1, lx2, ly2)
        del args[k : k + 2]
    if "--cols" in args:
        k = args.index("--cols")
        cols = int(args[k + 1])
        del args[k : k + 2]
    out = args[0]
    x1, y1, x2, y2, first, last = (int(v) for v in args[1:7])
    step = int(args[7]) if len(args) > 7 else 1
    scale = float(args[8]) if len(args) > 8 else 1.0
    sheet = make_sheet((x1, y1, x2, y2), range(first, last + 1, step), scale, line, cols)
    cv2.imwrite(out, sheet)


if __name__ == "__main__":
    main(sys.argv[1:])

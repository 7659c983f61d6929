"""Render frames for labelling by eye: full frame with a 50 px grid, or a zoomed crop.

Usage:
  python scripts/labelling/render.py full OUT.png FRAME [LABELS.json]
  python scripts/labelling/render.py crop OUT.png FRAME X1 Y1 X2 Y2 SCALE [LABELS.json]

LABELS.json may be the box label file or a proposal file (anything with
{"frames": {"<index>": [{"box": [...], "label": ...}]}}); its boxes for FRAME are overlaid
with thin lines and their list index, so a box can be compared with the pixels under it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frames import crop_zoom, draw_boxes, draw_grid, load_json, read_frames


def _objects(labels: str | None, frame: int) -> list[dict]:
    if labels is None:
        return []
    objs = load_json(Path(labels))["frames"].get(str(frame), [])
    return [{"label": o.get("label", o.get("source", "?")), **o} for o in objs]


def render_full(out: str, frame: int, labels: str | None) -> None:
    """Full frame at 1x with 50 px grid and optional boxes."""
    img = read_frames([frame])[frame]
    img = draw_boxes(img, _objects(labels, frame))
    cv2.imwrite(out, draw_grid(img, 50))


def render_crop(
    out: str, frame: int, region: tuple[int, int, int, int], scale: float, labels: str | None
) -> None:
    """Zoomed crop with a 10 px grid labelled every 20 px, in source pixels."""
    img = read_frames([frame])[frame]
    x1, y1 = max(0, region[0]), max(0, region[1])
    zoom = crop_zoom(img, region, scale)
    zoom = draw_boxes(zoom, _objects(labels, frame), origin=(x1, y1), scale=scale)
    cv2.imwrite(out, draw_grid(zoom, 10, origin=(x1, y1), scale=scale, label_every=2))


def main(argv: list[str]) -> None:
    """CLI dispatch."""
    mode, out, frame = argv[0], argv[1], int(argv[2])
    if mode == "full":
        render_full(out, frame, argv[3] if len(argv) > 3 else None)
    else:
        x1, y1, x2, y2 = (int(v) for v in argv[3:7])
        render_crop(
            out, frame, (x1, y1, x2, y2), float(argv[7]), argv[8] if len(argv) > 8 else None
        )


if __name__ == "__main__":
    main(sys.argv[1:])

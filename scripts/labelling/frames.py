"""Shared helpers for the hand-labelling scripts: frame access and drawing.

Frame index = 0-based count of frames read sequentially with ``cv2.VideoCapture``; seeking
with CAP_PROP_POS_FRAMES is avoided on purpose because some AVI codecs seek to the nearest
key frame, which would silently shift every label.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
VIDEO = REPO / "tests" / "data" / "vtest.avi"
LABELS = REPO / "tests" / "data" / "labels"

COLOURS = {
    "person": (0, 0, 255),
    "car": (255, 128, 0),
    "truck": (255, 0, 255),
    "bicycle": (0, 200, 0),
}


def iter_frames(video: Path = VIDEO) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, BGR frame) for every frame, reading sequentially."""
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open video {video}")
    index = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield index, frame
            index += 1
    finally:
        cap.release()


def read_frames(indices: Iterable[int], video: Path = VIDEO) -> dict[int, np.ndarray]:
    """Return the requested frames keyed by index (one sequential pass)."""
    wanted = set(indices)
    out: dict[int, np.ndarray] = {}
    for index, frame in iter_frames(video):
        if index in wanted:
            out[index] = frame
            if len(out) == len(wanted):
                break
    return out


def draw_grid(
    img: np.ndarray,
    step: int,
    origin: tuple[int, int] = (0, 0),
    scale: float = 1.0,
    label_every: int = 1,
) -> np.ndarray:
    """Draw a pixel grid with source-pixel tick labels onto a (possibly zoomed) image.

    ``origin`` is the source-pixel coordinate of the image's top-left corner, so labels on a
    zoomed crop still read in source pixels.
    """
    out = img.copy()
    h, w = out.shape[:2]
    ox, oy = origin
    first_x = (ox + step - 1) // step * step
    first_y = (oy + step - 1) // step * step
    for k, x in enumerate(range(first_x, ox + int(w / scale) + 1, step)):
        px = round((x - ox) * scale)
        cv2.line(out, (px, 0), (px, h - 1), (255, 255, 0), 1)
        if k % label_every == 0:
            cv2.putText(
                out,
                str(x),
                (px + 2, 12),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4,
                (255, 255, 255),
                1,
                cv2.LINE_AA,
            )
    for k, y in enumerate(range(first_y, oy + int(h / scale) + 1, step)):
        py = round((y - oy) * scale)
        cv2.line(out, (0, py), (w - 1, py), (255, 255, 0), 1)
        if k % label_every == 0:
            cv2.putText(
                out,
                str(y),
                (2, py - 2),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4,
                (255, 255, 255),
                1,
                cv2.LINE_AA,
            )
    return out


def draw_boxes(
    img: np.ndarray, objects: list[dict], origin: tuple[int, int] = (0, 0), scale: float = 1.0
) -> np.ndarray:
    """Overlay labelled boxes (thin lines so the edges under them stay visible)."""
    out = img.copy()
    ox, oy = origin
    for i, obj in enumerate(objects):
        x1, y1, x2, y2 = obj["box"]
        colour = COLOURS.get(obj["label"], (0, 255, 255))
        p1 = (round((x1 - ox) * scale), round((y1 - oy) * scale))
        p2 = (round((x2 - ox) * scale), round((y2 - oy) * scale))
        cv2.rectangle(out, p1, p2, colour, 1)
        tag = f"{i}{'d' if obj.get('difficult') else ''}"
        cv2.putText(
            out,
            tag,
            (p1[0], max(p1[1] - 3, 10)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            colour,
            1,
            cv2.LINE_AA,
        )
    return out


def crop_zoom(frame: np.ndarray, region: tuple[int, int, int, int], scale: float) -> np.ndarray:
    """Crop ``region`` (x1, y1, x2, y2, clipped to the frame) and enlarge it by ``scale``."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = region
    x1, y1 = max(0, x1), max(0, y1)
    x2, y2 = min(w, x2), min(h, y2)
    crop = frame[y1:y2, x1:x2]
    return cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)


def load_json(path: Path) -> dict:
    """Read a JSON label file."""
    with path.open(encoding="utf-8") as fh:
        data: dict = json.load(fh)
    return data


def dumps_labels(data: dict) -> str:
    """JSON text with one labelled object (or list item) per line, for reviewable diffs."""
    head = []
    for k, v in data.items():
        if k == "frames":
            continue
        if isinstance(v, list) and v and all(isinstance(i, dict) for i in v):
            body = ",\n".join(f"  {json.dumps(i)}" for i in v)
            head.append(f" {json.dumps(k)}: [\n{body}\n ]")
        else:
            head.append(f" {json.dumps(k)}: {json.dumps(v)}")
    frames = []
    for key, items in data.get("frames", {}).items():
        if not isinstance(items, list):
            frames.append(f"  {json.dumps(key)}: {json.dumps(items)}")
            continue
        body = ",\n".join(f"  {json.dumps(item)}" for item in items)
        name = json.dumps(key)
        frames.append(f"  {name}: [\n{body}\n  ]" if items else f"  {name}: []")
    parts = [*head, ' "frames": {\n' + ",\n".join(frames) + "\n }"] if "frames" in data else head
    return "{\n" + ",\n".join(parts) + "\n}\n"


def save_json(path: Path, data: dict) -> None:
    """Write a label file in the one-object-per-line layout of ``dumps_labels``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = dumps_labels(data)
    if json.loads(text) != data:
        raise ValueError("label layout changed the data")
    path.write_text(text, encoding="utf-8")

"""Drawing tracks, lines and zones onto a frame, for operators and for debugging.

Separate from counting on purpose: nothing here changes a count, and the rules never draw.
Every function returns a new image and leaves the input frame untouched, so the frame that
is analysed is never the frame that was drawn on.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from agent.analytics.line import LineCounter
from agent.analytics.zones import PolygonZone
from agent.detections import Detections

Image = npt.NDArray[np.uint8]
Colour = tuple[int, int, int]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
# Twelve well-separated BGR colours; a track keeps its colour for life.
_PALETTE: tuple[Colour, ...] = (
    (75, 25, 230),
    (75, 180, 60),
    (25, 225, 255),
    (200, 130, 0),
    (48, 130, 245),
    (180, 30, 145),
    (240, 240, 70),
    (230, 50, 240),
    (60, 245, 210),
    (212, 190, 250),
    (128, 128, 0),
    (40, 110, 170),
)
LINE_COLOUR: Colour = (255, 255, 255)
ZONE_COLOUR: Colour = (0, 200, 255)


def colour_for(track_id: int) -> Colour:
    """One colour per track id, so an object keeps its colour across frames; grey if untracked."""
    return _PALETTE[track_id % len(_PALETTE)] if track_id >= 0 else (160, 160, 160)


def _label(img: Image, text: str, org: tuple[int, int], colour: Colour, scale: float = 0.5) -> None:
    (w, h), base = cv2.getTextSize(text, _FONT, scale, 1)
    x, y = org
    y = max(y, h + base)
    cv2.rectangle(img, (x, y - h - base), (x + w, y + base // 2), colour, cv2.FILLED)
    cv2.putText(img, text, (x, y - base // 2), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)


def draw_tracks(frame: Image, detections: Detections, labels: Sequence[str]) -> Image:
    """Boxes with "#id label score"; untracked rows are drawn grey without an id."""
    img = frame.copy()
    for box, score, cls, tid in zip(
        detections.xyxy.astype(int).tolist(),
        detections.confidence.tolist(),
        detections.class_id.tolist(),
        detections.tracker_id.tolist(),
        strict=True,
    ):
        colour = colour_for(tid)
        cv2.rectangle(img, (box[0], box[1]), (box[2], box[3]), colour, 2)
        name = labels[cls] if 0 <= cls < len(labels) else str(cls)
        prefix = f"#{tid} " if tid >= 0 else ""
        _label(img, f"{prefix}{name} {score:.2f}", (box[0], box[1] - 2), colour)
    return img


def draw_line(frame: Image, counter: LineCounter) -> Image:
    """The counting line with an arrow towards its "in" side and the in/out counts."""
    img = frame.copy()
    seg = counter.segment
    a = tuple(int(v) for v in seg.start)
    b = tuple(int(v) for v in seg.end)
    cv2.line(img, a, b, LINE_COLOUR, 2, cv2.LINE_AA)
    mid = (seg.start + seg.end) / 2
    tip = mid + seg.normal * 25  # "in" crosses from the left to the right-hand side
    cv2.arrowedLine(
        img,
        tuple(int(v) for v in mid),
        tuple(int(v) for v in tip),
        LINE_COLOUR,
        2,
        cv2.LINE_AA,
        tipLength=0.35,
    )
    cfg = counter.config
    text = f"{cfg.id} {cfg.in_name}:{counter.in_count} {cfg.out_name}:{counter.out_count}"
    _label(img, text, (int(min(a[0], b[0])), int(min(a[1], b[1])) - 6), LINE_COLOUR)
    return img


def draw_zone(frame: Image, zone: PolygonZone, alpha: float = 0.25) -> Image:
    """The zone outline, a translucent fill and the occupancy per label."""
    pts = np.round(zone.polygon).astype(np.int32).reshape(-1, 1, 2)
    overlay = frame.copy()
    cv2.fillPoly(overlay, [pts], ZONE_COLOUR)
    img: Image = np.asarray(cv2.addWeighted(overlay, alpha, frame, 1 - alpha, 0), np.uint8)
    cv2.polylines(img, [pts], True, ZONE_COLOUR, 2, cv2.LINE_AA)
    occ = ", ".join(f"{k}:{v}" for k, v in sorted(zone.occupancy.items())) or "empty"
    x, y = (int(v) for v in zone.polygon.min(axis=0))
    _label(img, f"{zone.config.id} {occ}", (x, y - 4), ZONE_COLOUR)
    return img


__all__ = ["colour_for", "draw_line", "draw_tracks", "draw_zone"]

"""Crossing proposals: greedy foot-point tracks of background-difference blobs.

Each person-shaped blob (taller than wide, >= 20 px) gives a foot point (bottom centre). Foot
points are chained frame to frame by nearest neighbour within MAX_STEP px; a chain whose side
of the counting segment changes proposes a crossing at that frame. Groups merge into one
blob, people split into pieces and the chains break, so these are only places and times to
look at: every crossing in the label file was confirmed (or rejected) on contact sheets.

No chain is continued across the edit cut between frames 403 and 404 (see docs/labelling.md).

Usage: python scripts/labelling/blob_tracks.py X1 Y1 X2 Y2   (segment p1 -> p2)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from draft import background_plate, diff_boxes
from frames import iter_frames

MAX_STEP = 25.0
CUT_AFTER = 403


@dataclass
class Chain:
    """One foot-point chain: (frame, x, y) samples."""

    points: list[tuple[int, float, float]] = field(default_factory=list)


def foot_points(boxes: list[list[int]]) -> list[tuple[float, float]]:
    """Bottom-centre points of person-shaped blobs."""
    out = []
    for x1, y1, x2, y2 in boxes:
        h, w = y2 - y1, x2 - x1
        if h >= 20 and w <= 1.3 * h:
            out.append(((x1 + x2) / 2.0, float(y2)))
    return out


def side(p1: tuple[float, float], p2: tuple[float, float], q: tuple[float, float]) -> float:
    """(p2 - p1) x (q - p1), image coordinates."""
    return (p2[0] - p1[0]) * (q[1] - p1[1]) - (p2[1] - p1[1]) * (q[0] - p1[0])


def segments_intersect(
    p1: tuple[float, float], p2: tuple[float, float], a: tuple[float, float], b: tuple[float, float]
) -> bool:
    """Whether the step a->b crosses the segment p1-p2 (strictly changes side)."""
    s_a, s_b = side(p1, p2, a), side(p1, p2, b)
    t_1, t_2 = side(a, b, p1), side(a, b, p2)
    return s_a * s_b < 0 and t_1 * t_2 <= 0


def build_chains() -> list[Chain]:
    """Chain foot points over the whole clip."""
    plate = background_plate()
    done: list[Chain] = []
    live: list[Chain] = []
    for index, frame in iter_frames():
        if index == CUT_AFTER + 1:
            done += live
            live = []
        pts = foot_points(diff_boxes(frame, plate))
        taken: set[int] = set()
        still: list[Chain] = []
        for chain in live:
            _, lx, ly = chain.points[-1]
            dists = [
                np.hypot(px - lx, py - ly) if k not in taken else np.inf
                for k, (px, py) in enumerate(pts)
            ]
            if dists and min(dists) <= MAX_STEP:
                k = int(np.argmin(dists))
                taken.add(k)
                chain.points.append((index, *pts[k]))
                still.append(chain)
            else:
                done.append(chain)
        still += [Chain([(index, *pts[k])]) for k in range(len(pts)) if k not in taken]
        live = still
    return done + live


def proposals(
    chains: list[Chain], p1: tuple[float, float], p2: tuple[float, float]
) -> list[tuple[int, str, float, float]]:
    """(frame, direction, x, y) where a chain's foot step crosses the segment."""
    out = []
    for chain in chains:
        for (_, ax, ay), (fb, bx, by) in zip(chain.points, chain.points[1:], strict=False):
            if segments_intersect(p1, p2, (ax, ay), (bx, by)):
                direction = "in" if side(p1, p2, (bx, by)) > 0 else "out"
                out.append((fb, direction, bx, by))
    return sorted(out)


def main(argv: list[str]) -> None:
    """CLI entry: print crossing proposals for the segment."""
    x1, y1, x2, y2 = (float(v) for v in argv[:4])
    for frame, direction, x, y in proposals(build_chains(), (x1, y1), (x2, y2)):
        print(frame, direction, round(x), round(y))


if __name__ == "__main__":
    main(sys.argv[1:])

"""List proposals that no label covers, so the labeller looks again at those places.

A proposal (MOG2 blob, HOG detection, background-difference blob) whose centre lies in no
labelled box is printed with its frame; each one was then viewed and either labelled or
dismissed (tape flapping, shadow, the known HOG false positive on the van, ...).

Usage: python scripts/labelling/crosscheck.py LABELS.json PROPOSALS.json [PROPOSALS.json ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frames import load_json

MIN_HEIGHT = 15


def uncovered(labels: dict, proposals: dict) -> list[tuple[int, str, list[int]]]:
    """Proposals at labelled frames whose centre is inside no labelled box."""
    out = []
    for key, props in proposals["frames"].items():
        boxes = [o["box"] for o in labels["frames"].get(key, [])]
        if key not in labels["frames"]:
            continue
        for prop in props:
            x1, y1, x2, y2 = prop["box"]
            if y2 - y1 < MIN_HEIGHT:
                continue
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            if not any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in boxes):
                out.append((int(key), prop.get("source", "draft"), prop["box"]))
    return sorted(out)


def main(argv: list[str]) -> None:
    """CLI entry."""
    labels = load_json(Path(argv[0]))
    for path in argv[1:]:
        for frame, source, box in uncovered(labels, load_json(Path(path))):
            print(frame, source, box)


if __name__ == "__main__":
    main(sys.argv[1:])

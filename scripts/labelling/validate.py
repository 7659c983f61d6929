"""Validate the hand-made label files: schema, box sanity, cross-file consistency.

Pure functions that return a list of human-readable problems (empty = valid), so the same
checks run from the CLI while labelling and from tests/test_labels.py.

Usage: python scripts/labelling/validate.py [LABELS_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

LABELS = {"person", "car", "truck", "bus", "bicycle", "motorcycle"}
FRAME_COUNT = 795
OBJECT_KEYS = {"label", "box", "difficult", "note", "alt_labels"}
COUNT_KEYS = {"all", "non_difficult", "from", "note"}
HEADER_KEYS = {"source", "frame_size", "labeller", "method", "frames"}


def _header(data: dict, name: str) -> list[str]:
    problems = [f"{name}: missing key {k!r}" for k in sorted(HEADER_KEYS - set(data))]
    if data.get("source") != "tests/data/vtest.avi":
        problems.append(f"{name}: source must be tests/data/vtest.avi, got {data.get('source')!r}")
    if data.get("frame_size") != [768, 576]:
        problems.append(f"{name}: frame_size must be [768, 576], got {data.get('frame_size')!r}")
    for key in data.get("frames", {}):
        if not key.isdigit() or not 0 <= int(key) < FRAME_COUNT:
            problems.append(f"{name}: frame key {key!r} is not an index in [0, {FRAME_COUNT})")
    return problems


def check_object(obj: Any, where: str, size: tuple[int, int]) -> list[str]:
    """Problems with one labelled object."""
    if not isinstance(obj, dict):
        return [f"{where}: object must be a dict, got {type(obj).__name__}"]
    problems = [f"{where}: unknown key {k!r}" for k in sorted(set(obj) - OBJECT_KEYS)]
    if obj.get("label") not in LABELS:
        problems.append(f"{where}: label {obj.get('label')!r} not in {sorted(LABELS)}")
    if not isinstance(obj.get("difficult"), bool):
        problems.append(f"{where}: difficult must be a bool")
    box = obj.get("box")
    if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, int) for v in box)):
        return [*problems, f"{where}: box must be 4 ints, got {box!r}"]
    x1, y1, x2, y2 = box
    width, height = size
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        problems.append(f"{where}: box {box} not inside a {width}x{height} frame with x1<x2, y1<y2")
    elif x2 - x1 < 3 or y2 - y1 < 3:
        problems.append(f"{where}: box {box} is degenerate (< 3 px)")
    alt = obj.get("alt_labels", [])
    if not (isinstance(alt, list) and all(a in LABELS for a in alt)):
        problems.append(f"{where}: alt_labels must be a list of known labels, got {alt!r}")
    return problems


def check_boxes(data: dict) -> list[str]:
    """Problems with vtest_boxes.json."""
    problems = _header(data, "boxes")
    size = (768, 576)
    for key, objs in data.get("frames", {}).items():
        if not isinstance(objs, list):
            problems.append(f"boxes frame {key}: must be a list")
            continue
        for i, obj in enumerate(objs):
            problems += check_object(obj, f"boxes frame {key} object {i}", size)
    return problems


def person_counts(objs: list[dict]) -> dict[str, int]:
    """Counts of persons in a box list, as stored in the counts file."""
    persons = [o for o in objs if o["label"] == "person"]
    return {"all": len(persons), "non_difficult": sum(not o["difficult"] for o in persons)}


def check_counts(data: dict, boxes: dict | None = None) -> list[str]:
    """Problems with vtest_person_counts.json (and disagreement with the boxes)."""
    problems = _header(data, "counts")
    for key, entry in data.get("frames", {}).items():
        where = f"counts frame {key}"
        if not isinstance(entry, dict) or set(entry) - COUNT_KEYS:
            problems.append(f"{where}: keys must be within {sorted(COUNT_KEYS)}, got {entry!r}")
            continue
        n_all, n_easy = entry.get("all"), entry.get("non_difficult")
        if not (isinstance(n_all, int) and isinstance(n_easy, int) and 0 <= n_easy <= n_all):
            problems.append(f"{where}: need ints 0 <= non_difficult <= all, got {entry!r}")
        if boxes is not None and key in boxes.get("frames", {}):
            expected = person_counts(boxes["frames"][key])
            got = {"all": n_all, "non_difficult": n_easy}
            if got != expected:
                problems.append(f"{where}: {got} disagrees with the boxes file {expected}")
    return problems


def side_of_line(p1: list[int], p2: list[int], point: tuple[float, float]) -> float:
    """z of (p2 - p1) x (point - p1) in image coordinates (y down); sign gives the side."""
    return (p2[0] - p1[0]) * (point[1] - p1[1]) - (p2[1] - p1[1]) * (point[0] - p1[0])


def check_crossings(data: dict) -> list[str]:
    """Problems with vtest_line_crossings.json."""
    problems = [
        f"crossings: missing key {k!r}"
        for k in ("source", "frame_size", "line", "direction_convention", "crossings", "totals")
        if k not in data
    ]
    line = data.get("line", {})
    for name in ("p1", "p2"):
        pt = line.get(name)
        if not (isinstance(pt, list) and len(pt) == 2 and 0 <= pt[0] < 768 and 0 <= pt[1] < 576):
            problems.append(f"crossings: line.{name} must be [x, y] inside the frame, got {pt!r}")
    totals = {"in": 0, "out": 0}
    last = -1
    for i, c in enumerate(data.get("crossings", [])):
        where = f"crossings[{i}]"
        if c.get("direction") not in totals:
            problems.append(f"{where}: direction must be 'in' or 'out', got {c.get('direction')!r}")
        else:
            totals[c["direction"]] += 1
        frame = c.get("frame")
        if not isinstance(frame, int) or not 0 <= frame < FRAME_COUNT:
            problems.append(f"{where}: frame must be an index in [0, {FRAME_COUNT})")
        elif frame < last:
            problems.append(f"{where}: crossings must be sorted by frame")
        else:
            last = frame
        if c.get("label") != "person":
            problems.append(f"{where}: label must be 'person'")
    if data.get("totals") != totals:
        problems.append(f"crossings: totals {data.get('totals')} != counted {totals}")
    return problems


def validate_dir(labels_dir: Path) -> list[str]:
    """Validate every label file present in ``labels_dir``."""

    def load(name: str) -> dict | None:
        path = labels_dir / name
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    boxes = load("vtest_boxes.json")
    problems = check_boxes(boxes) if boxes is not None else ["vtest_boxes.json missing"]
    counts = load("vtest_person_counts.json")
    if counts is not None:
        problems += check_counts(counts, boxes)
    crossings = load("vtest_line_crossings.json")
    if crossings is not None:
        problems += check_crossings(crossings)
    return problems


def main(argv: list[str]) -> None:
    """CLI entry: print problems, exit 1 if any."""
    here = Path(__file__).resolve().parents[2] / "tests" / "data" / "labels"
    problems = validate_dir(Path(argv[0]) if argv else here)
    for p in problems:
        print(p)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Build vtest_person_counts.json: counts derived from the box file plus counts read by eye.

Box frames are not counted twice by hand: their counts come from the boxes, so the two files
cannot disagree. The extra frames (between the box frames) are counted by eye; see
scripts/labelling/specs/vtest_counts_by_eye.json and docs/labelling.md.

Usage: python scripts/labelling/make_counts.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frames import LABELS, load_json, save_json
from validate import person_counts

SPEC = Path(__file__).resolve().parent / "specs" / "vtest_counts_by_eye.json"


def build_counts(boxes: dict, by_eye: dict) -> dict:
    """Merge box-derived and by-eye counts; a frame in both must agree."""
    frames: dict[str, dict] = {}
    for key, objs in boxes["frames"].items():
        frames[key] = person_counts(objs) | {"from": "boxes"}
    for key, entry in by_eye["frames"].items():
        if key in frames and {k: frames[key][k] for k in ("all", "non_difficult")} != {
            k: entry[k] for k in ("all", "non_difficult")
        }:
            raise ValueError(f"frame {key}: by-eye count {entry} disagrees with boxes")
        frames.setdefault(
            key,
            {"all": entry["all"], "non_difficult": entry["non_difficult"], "from": "eye"}
            | ({"note": entry["note"]} if "note" in entry else {}),
        )
    return {
        "source": boxes["source"],
        "frame_size": boxes["frame_size"],
        "labeller": boxes["labeller"],
        "method": (
            "Counts of persons per frame: 'all' counts every visible person, "
            "'non_difficult' leaves out those the box rules call difficult (more than "
            "~40-50% hidden, under ~20 px tall, or more than half outside the frame). "
            "'from': 'boxes' = derived from vtest_boxes.json; 'eye' = counted by eye "
            "on full frames and zoomed crops. Details: docs/labelling.md"
        ),
        "frames": dict(sorted(frames.items(), key=lambda kv: int(kv[0]))),
    }


def main() -> None:
    """Write tests/data/labels/vtest_person_counts.json."""
    boxes = load_json(LABELS / "vtest_boxes.json")
    save_json(LABELS / "vtest_person_counts.json", build_counts(boxes, load_json(SPEC)))


if __name__ == "__main__":
    main()

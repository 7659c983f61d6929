"""The hand-made ground truth on tests/data/vtest.avi is well-formed and self-consistent.

Accuracy tests for the detector and the pipeline trust these files, so a malformed box, a
box outside the frame or a count that disagrees with the boxes must fail here, loudly, rather
than skew an accuracy figure. The validator lives with the labelling scripts; this test also
proves it rejects broken input.
"""

from __future__ import annotations

import copy
import importlib.util
import itertools
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import pytest

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests" / "data" / "labels"
VIDEO = ROOT / "tests" / "data" / "vtest.avi"


def _load_validator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "labelling_validate", ROOT / "scripts" / "labelling" / "validate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


validate = _load_validator()


@pytest.fixture(scope="module")
def boxes() -> dict:
    return json.loads((LABELS / "vtest_boxes.json").read_text(encoding="utf-8"))


def test_video_matches_the_labelled_geometry() -> None:
    cap = cv2.VideoCapture(str(VIDEO))
    try:
        assert cap.isOpened()
        assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 768
        assert int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == 576
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == validate.FRAME_COUNT
    finally:
        cap.release()


def test_all_label_files_validate() -> None:
    assert validate.validate_dir(LABELS) == []


def test_box_frames_cover_the_whole_clip(boxes: dict) -> None:
    frames = sorted(int(k) for k in boxes["frames"])
    assert len(frames) >= 24
    assert frames[0] <= 30 and frames[-1] >= validate.FRAME_COUNT - 60
    assert max(b - a for a, b in itertools.pairwise(frames)) <= 60


def test_every_box_frame_has_people_and_the_parked_van(boxes: dict) -> None:
    for key, objs in boxes["frames"].items():
        easy_people = [o for o in objs if o["label"] == "person" and not o["difficult"]]
        assert easy_people, f"frame {key} has no non-difficult person"
        vans = [o for o in objs if o.get("note") == "parked white panel van"]
        assert len(vans) == 1, f"frame {key} must label the parked van once"


def test_validator_rejects_bad_boxes(boxes: dict) -> None:
    broken = copy.deepcopy(boxes)
    first = next(iter(broken["frames"]))
    broken["frames"][first][0]["box"] = [700, 10, 800, 50]  # past the right border
    broken["frames"][first][1]["box"] = [300, 200, 250, 260]  # x1 > x2
    broken["frames"][first][2]["label"] = "pedestrian"
    broken["frames"]["9999"] = []
    problems = validate.check_boxes(broken)
    assert any("not inside" in p and "object 0" in p for p in problems)
    assert any("not inside" in p and "object 1" in p for p in problems)
    assert any("pedestrian" in p for p in problems)
    assert any("9999" in p for p in problems)


def test_validator_rejects_counts_that_disagree_with_boxes(boxes: dict) -> None:
    key = next(iter(boxes["frames"]))
    right = validate.person_counts(boxes["frames"][key])
    counts: dict[str, Any] = {
        "source": "tests/data/vtest.avi",
        "frame_size": [768, 576],
        "labeller": "x",
        "method": "x",
        "frames": {key: dict(right)},
    }
    assert validate.check_counts(counts, boxes) == []
    counts["frames"][key]["all"] += 1
    assert any("disagrees" in p for p in validate.check_counts(counts, boxes))


def test_person_counts_cover_at_least_60_frames_and_match_boxes(boxes: dict) -> None:
    counts = json.loads((LABELS / "vtest_person_counts.json").read_text(encoding="utf-8"))
    frames = counts["frames"]
    assert len(frames) >= 60
    for key, objs in boxes["frames"].items():
        got = {k: frames[key][k] for k in ("all", "non_difficult")}
        assert got == validate.person_counts(objs), f"frame {key}"
    # Between the box frames the counts were taken by eye; every frame of this clip has
    # people in it, so a zero would be a slip.
    assert all(entry["non_difficult"] >= 1 for entry in frames.values())


@pytest.fixture(scope="module")
def crossings() -> dict:
    return json.loads((LABELS / "vtest_line_crossings.json").read_text(encoding="utf-8"))


def test_crossing_line_and_convention(crossings: dict) -> None:
    p1, p2 = crossings["line"]["p1"], crossings["line"]["p2"]
    for x, y in (p1, p2):
        assert 20 <= x <= 748 and 20 <= y <= 556, "line must stay away from the frame border"
    # The documented convention: s < 0 is screen-left of p1 -> p2, and 'in' goes from s < 0
    # to s > 0. For this upward segment that means walking rightwards is 'in'.
    assert validate.side_of_line(p1, p2, (p1[0] - 10, (p1[1] + p2[1]) / 2)) < 0
    assert validate.side_of_line(p1, p2, (p1[0] + 10, (p1[1] + p2[1]) / 2)) > 0
    assert len(crossings["crossings"]) >= 10
    assert crossings["totals"]["in"] > 0 and crossings["totals"]["out"] > 0
    low, high = sorted((p1[1], p2[1]))
    assert all(low <= c["foot_y"] <= high for c in crossings["crossings"])


def test_crossings_agree_with_boxes_where_they_meet(boxes: dict, crossings: dict) -> None:
    """At a box frame a crossing lands on, a labelled person's feet must be on the line."""
    x_line = crossings["line"]["p1"][0]
    checked = 0
    for c in crossings["crossings"]:
        objs = boxes["frames"].get(str(c["frame"]))
        if objs is None:
            continue
        feet = [
            ((o["box"][0] + o["box"][2]) / 2, o["box"][3]) for o in objs if o["label"] == "person"
        ]
        assert any(abs(fx - x_line) <= 12 and abs(fy - c["foot_y"]) <= 15 for fx, fy in feet), c
        checked += 1
    assert checked >= 1


def test_validator_rejects_bad_crossings(crossings: dict) -> None:
    broken = copy.deepcopy(crossings)
    broken["crossings"][0]["direction"] = "sideways"
    broken["crossings"][1]["frame"] = 5000
    broken["line"]["p2"] = [900, 10]
    problems = validate.check_crossings(broken)
    assert any("sideways" in p for p in problems)
    assert any("frame must be" in p for p in problems)
    assert any("line.p2" in p for p in problems)
    assert any("totals" in p for p in problems)

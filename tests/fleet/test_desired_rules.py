"""Camera documents pushed through the fleet carry analytics rules, validated as the box would."""

from __future__ import annotations

import pytest

from fleet.desired import validate_scope
from fleet.errors import ConfigRejectedError

CAMERA = {
    "source": "rtsp://cam-7.local/stream",
    "lines": [{"id": "gate", "points": [[10, 10], [100, 10]], "classes": ["person"]}],
    "zones": [{"id": "yard", "polygon": [[0, 0], [50, 0], [50, 50]], "classes": ["person"]}],
}


def test_a_camera_with_rules_is_accepted() -> None:
    entry = validate_scope("cam-7", dict(CAMERA), "dev-1")
    assert entry["id"] == "cam-7" and entry["lines"][0]["id"] == "gate"
    box = {"cameras": [{"id": "cam-7", **CAMERA}]}
    assert validate_scope("", box, "dev-1") is box


def test_a_bad_rule_is_refused_naming_the_field() -> None:
    bad = {**CAMERA, "zones": [{"id": "yard", "polygon": [[0, 0], [1, 1]], "classes": []}]}
    with pytest.raises(ConfigRejectedError, match=r"(?s)dev-1/cam-7.*zones\[0\]\.polygon"):
        validate_scope("cam-7", bad, "dev-1")
    with pytest.raises(ConfigRejectedError, match=r"(?s)cameras\[0\].*lines\[0\]\.points"):
        validate_scope(
            "",
            {"cameras": [{"id": "c", **CAMERA, "lines": [{"id": "g", "points": [[1, 1]]}]}]},
            "dev-1",
        )

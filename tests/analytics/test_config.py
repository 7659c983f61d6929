"""Analytics config: YAML with cross-references, every error names its field."""

from pathlib import Path

import pytest

from agent.config.analytics import CameraAnalyticsConfig
from agent.config.base import load_yaml, parse_document
from agent.errors import ConfigError

GOOD = """
tracker: {min_hits: 3, track_buffer_seconds: 2.5}
lines:
  - id: gate
    points: [[100, 300], [500, 300]]
    classes: [person, bicycle]
    in_name: entering
  - id: road
    points: [[0, 400], [768, 420]]
    classes: [car, truck]
zones:
  - id: bench
    polygon: [[10, 10], [200, 10], [200, 200], [10, 200]]
    loiter_seconds: 45
traffic:
  - line_id: road
    interval_seconds: 60
    expected_direction: in
    calibration:
      image_points: [[200, 560], [600, 560], [460, 160], [340, 160]]
      ground_points: [[0, 0], [7, 0], [7, 40], [0, 40]]
abandoned: {stationary_seconds: 20, unattended_seconds: 10}
"""


def test_good_document_loads(tmp_path: Path) -> None:
    path = tmp_path / "cam.yaml"
    path.write_text(GOOD)
    cfg = load_yaml(CameraAnalyticsConfig, path)
    assert [line.id for line in cfg.lines] == ["gate", "road"]
    assert cfg.lines[0].in_name == "entering" and cfg.lines[0].out_name == "out"
    assert cfg.tracker.min_hits == 3
    assert cfg.abandoned is not None and cfg.abandoned.classes == (
        "backpack",
        "handbag",
        "suitcase",
    )
    assert parse_document(CameraAnalyticsConfig, {}).abandoned is None


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (
            {
                "lines": [
                    {"id": "a", "points": [[0, 0], [10, 0]]},
                    {"id": "a", "points": [[0, 5], [10, 5]]},
                ]
            },
            r"lines\[1\]\.id: duplicate",
        ),
        ({"zones": [{"id": "z", "polygon": [[0, 0], [1, 0]]}]}, r"zones\[0\]\.polygon"),
        (
            {
                "lines": [{"id": "a", "points": [[0, 0], [10, 0]]}],
                "traffic": [
                    {
                        "line_id": "b",
                        "calibration": {
                            "image_points": [[0, 0], [10, 0], [10, 10], [0, 10]],
                            "ground_points": [[0, 0], [1, 0], [1, 1], [0, 1]],
                        },
                    }
                ],
            },
            r"traffic\[0\]\.line_id: 'b' is not the id of a line",
        ),
        ({"lines": [{"id": "a", "points": [[0, 0], [0, 0.5]]}]}, r"lines\[0\]\.points: .*1 pixel"),
        (
            {"lines": [{"id": "a", "points": [[0, 0], [10, 0]], "hysteresis_px": -1}]},
            r"lines\[0\]\.hysteresis_px",
        ),
        ({"lines": [{"id": "bad id!", "points": [[0, 0], [10, 0]]}]}, r"lines\[0\]\.id"),
        (
            {"zones": [{"id": "z", "polygon": [[0, 0], [9, 0], [9, 9]], "loiter_secs": 3}]},
            r"zones\[0\]\.loiter_secs: Extra inputs",
        ),
        ({"abandoned": {"radius_scale": 0}}, r"abandoned\.radius_scale"),
        ({"tracker": {"min_hits": 0}}, r"tracker\.min_hits"),
    ],
)
def test_errors_name_the_field(doc: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        parse_document(CameraAnalyticsConfig, doc, "cam.yaml")

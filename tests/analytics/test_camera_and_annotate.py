"""CameraAnalytics (tracker + rules from one config) and the annotation drawing."""

import numpy as np
import pytest

from agent.analytics.camera import CameraAnalytics
from agent.annotate import LINE_COLOUR, colour_for, draw_line, draw_tracks, draw_zone
from agent.config.analytics import CameraAnalyticsConfig
from agent.detections import Detections
from agent.errors import ConfigError
from agent.events.types import EventKind, LineCrossed
from tests.analytics.scenes import LABELS, foot_box

CONFIG = {
    "tracker": {"min_hits": 3},
    "lines": [{"id": "gate", "points": [[0, 300], [640, 300]]}],
    "zones": [
        {
            "id": "yard",
            "polygon": [[0, 320], [640, 320], [640, 480], [0, 480]],
            "loiter_seconds": 100,
        }
    ],
}


def raw(y: float, x: float = 200) -> Detections:
    """Untracked detector output: one person whose feet are at (x, y)."""
    return Detections(np.array([foot_box(x, y)]), np.array([0.9]), np.array([0]))


def test_raw_detections_are_tracked_and_only_confirmed_tracks_reach_rules() -> None:
    cam = CameraAnalytics(CameraAnalyticsConfig.model_validate(CONFIG), LABELS)
    # A detection that appears for two frames only (never confirmed) on both sides of the
    # line and in the zone: nothing, ever.
    for k, y in enumerate([285, 330]):
        assert cam.update(raw(y, x=500), k * 0.2).events == []
    # A walker crosses the line (y=300) while its track is still tentative.
    log = []
    for k, y in enumerate([285, 315, 330, 345, 360]):
        result = cam.update(raw(y), 1.0 + k * 0.2)
        log.append((len(result.tracks), [(e.kind, e.track_id) for e in result.events]))
    assert log[0] == (0, []) and log[1] == (0, [])
    # Confirmed at the third frame: the crossing it made while tentative counts now (it was
    # born above the line), and it is in the zone.
    assert log[2] == (1, [(EventKind.LINE_CROSSING, 1), (EventKind.ZONE_ENTER, 1)])
    assert log[3:] == [(1, []), (1, [])]
    assert cam.lines["gate"].in_count == 1
    # Going back up over the line is counted the other way.
    events = []
    for k, y in enumerate([330, 300, 270, 240]):
        events += cam.update(raw(y), 2.0 + k * 0.2).events
    crossings = [
        e.detail_as(LineCrossed).direction for e in events if e.kind is EventKind.LINE_CROSSING
    ]
    assert crossings == ["out"]


def test_unknown_label_fails_at_build_naming_the_rule() -> None:
    cfg = CameraAnalyticsConfig.model_validate(
        {
            **CONFIG,
            "zones": [
                {"id": "yard", "polygon": [[0, 0], [9, 0], [9, 9]], "classes": ["person", "dragon"]}
            ],
        }
    )
    with pytest.raises(ConfigError, match=r"zones\[yard\]\.classes: 'dragon'"):
        CameraAnalytics(cfg, LABELS)


def test_annotation_draws_without_touching_the_frame() -> None:
    cam = CameraAnalytics(CameraAnalyticsConfig.model_validate(CONFIG), LABELS)
    frame = np.zeros((480, 640, 3), np.uint8)
    tracks = Detections(
        np.array([[100, 100, 160, 250]]), np.array([0.8]), np.array([0]), np.array([7])
    )
    img = draw_tracks(frame, tracks, LABELS)
    img = draw_line(img, cam.lines["gate"])
    img = draw_zone(img, cam.zones["yard"])
    assert not frame.any()  # input untouched
    assert tuple(img[175, 100]) == colour_for(7)  # left edge of the box
    assert tuple(img[300, 600]) == LINE_COLOUR  # on the line
    assert img[400, 300].any() and not img[50, 600].any()  # zone tinted, outside not


def test_no_rule_mutates_its_input() -> None:
    cfg = CameraAnalyticsConfig.model_validate(
        {
            **CONFIG,
            "traffic": [
                {
                    "line_id": "gate",
                    "classes": ["car"],
                    "calibration": {
                        "image_points": [[0, 0], [640, 0], [640, 480], [0, 480]],
                        "ground_points": [[0, 0], [10, 0], [10, 40], [0, 40]],
                    },
                }
            ],
            "abandoned": {"stationary_seconds": 0.5, "unattended_seconds": 0.5},
        }
    )
    cam = CameraAnalytics(cfg, LABELS)
    for k in range(12):
        y = 200 + 20 * k
        d = Detections(
            np.array(
                [foot_box(200, y), foot_box(400, 480 - y, 80, 50), foot_box(500, 300, 20, 20)]
            ),
            np.array([0.9, 0.8, 0.7]),
            np.array([0, LABELS.index("car"), LABELS.index("suitcase")]),
            np.array([1, 2, 3]),
        )
        snapshot = [a.copy() for a in (d.xyxy, d.confidence, d.class_id, d.tracker_id)]
        for rule in cam.rules:
            rule.update(d, k * 0.2)
        for before, after in zip(
            snapshot, (d.xyxy, d.confidence, d.class_id, d.tracker_id), strict=True
        ):
            np.testing.assert_array_equal(before, after)
    assert len(cam.rules) == 4


def test_traffic_class_error_names_the_traffic_rule() -> None:
    cfg = CameraAnalyticsConfig.model_validate(
        {
            **CONFIG,
            "traffic": [
                {
                    "line_id": "gate",
                    "classes": ["hovercraft"],
                    "calibration": {
                        "image_points": [[0, 0], [640, 0], [640, 480], [0, 480]],
                        "ground_points": [[0, 0], [10, 0], [10, 40], [0, 40]],
                    },
                }
            ],
        }
    )
    with pytest.raises(ConfigError, match=r"traffic\[gate\]\.classes: 'hovercraft'"):
        CameraAnalytics(cfg, LABELS)

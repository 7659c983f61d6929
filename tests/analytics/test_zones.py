"""PolygonZone: occupancy, dwell timing, loitering once per visit, jitter-proof exits."""

import pytest

from agent.analytics.geometry import points_in_polygon
from agent.analytics.zones import PolygonZone
from agent.config.analytics import ZoneConfig
from agent.events.types import ZoneVisit
from tests.analytics.scenes import LABELS, foot_box, frame

SQUARE = [[100, 100], [300, 100], [300, 300], [100, 300]]


def zone(**over: object) -> PolygonZone:
    cfg = {"id": "bench", "polygon": SQUARE, "loiter_seconds": 10, "exit_grace_seconds": 1.0}
    return PolygonZone(ZoneConfig.model_validate({**cfg, **over}), LABELS)


def kinds(events: list) -> list[tuple[str, int]]:
    return [(e.kind.value, e.track_id) for e in events]


def test_points_in_polygon_concave() -> None:
    l_shape = [[0, 0], [10, 0], [10, 4], [4, 4], [4, 10], [0, 10]]
    pts = [[2, 2], [8, 2], [8, 8], [2, 8], [11, 1], [-1, 5]]
    assert points_in_polygon(pts, l_shape).tolist() == [True, True, False, True, False, False]


def test_enter_dwell_loiter_exit_timing() -> None:
    z = zone()
    log = []
    t = 0.0
    for i in range(80):  # 5 fps: outside for 1 s, inside 13 s, then out for 2 s
        t = i * 0.2
        y = 200 if 1.0 <= t < 14.0 else 400
        for e in z.update(frame((7, "person", foot_box(200, y))), t):
            log.append(
                (
                    round(t, 1),
                    e.kind.value,
                    round(e.detail_as(ZoneVisit).dwell_seconds, 1),
                    e.detail_as(ZoneVisit).occupancy,
                )
            )
    assert log == [
        (1.0, "zone_enter", 0.0, 1),
        (11.0, "loitering", 10.0, 1),
        # Last inside at 13.8; outside from 14.0; leaves once grace (1 s) passed.
        (15.0, "zone_exit", 12.8, 0),
    ]


def test_boundary_jitter_and_short_dropout_do_not_split_a_visit() -> None:
    z = zone()
    events = []
    for i in range(40):
        t = i * 0.2
        # Bottom-centre jitters across the zone's bottom edge y=300; every 7th frame the
        # detector misses the person altogether.
        jitter = frame((1, "person", foot_box(200, 298 if i % 2 else 303)))
        d = frame() if i % 7 == 3 else jitter
        events += z.update(d, t)
    assert kinds(events) == [("zone_enter", 1)]
    assert z.occupancy == {"person": 1}


def test_occupancy_per_label_and_class_filter() -> None:
    z = zone(classes=["person", "car"])
    ev = z.update(
        frame(
            (1, "person", foot_box(150, 200)),
            (2, "person", foot_box(250, 200)),
            (3, "car", foot_box(200, 250, 80, 60)),
            (4, "truck", foot_box(200, 250, 80, 60)),
        ),
        0.0,
    )
    assert sorted(kinds(ev)) == [("zone_enter", 1), ("zone_enter", 2), ("zone_enter", 3)]
    assert z.occupancy == {"person": 2, "car": 1}
    assert [e.detail_as(ZoneVisit).occupancy for e in ev if e.label == "person"] == [1, 2]
    assert z.dwell_seconds(1, 4.0) == pytest.approx(4.0)
    assert z.dwell_seconds(4, 4.0) is None


def test_loitering_is_raised_once_per_visit_and_again_on_a_new_visit() -> None:
    z = zone(loiter_seconds=2, exit_grace_seconds=0.5)
    events = []
    for i in range(60):
        t = i * 0.2
        y = 400 if 4.0 <= t < 6.0 else 200  # leaves for 2 s between two visits
        events += z.update(frame((1, "person", foot_box(200, y))), t)
    assert [k for k, _ in kinds(events)] == [
        "zone_enter",
        "loitering",
        "zone_exit",
        "zone_enter",
        "loitering",
    ]


def test_unconfirmed_never_count_and_vanished_track_exits_without_box() -> None:
    z = zone()
    assert z.update(frame((-1, "person", foot_box(200, 200))), 0.0) == []
    z.update(frame((5, "person", foot_box(200, 200))), 0.0)
    ev = z.update(frame(), 2.0)
    assert kinds(ev) == [("zone_exit", 5)] and ev[0].box is None


def test_degenerate_polygon_is_rejected_naming_field() -> None:
    from agent.config.base import parse_document
    from agent.errors import ConfigError

    with pytest.raises(ConfigError, match=r"polygon: .*no area"):
        parse_document(ZoneConfig, {"id": "z", "polygon": [[0, 0], [5, 5], [10, 10]]})
    with pytest.raises(ConfigError, match=r"polygon: .*at least 3"):
        parse_document(ZoneConfig, {"id": "z", "polygon": [[0, 0], [5, 5]]})


def test_predicted_positions_keep_a_visit_but_never_open_one() -> None:
    """A skipped frame's prediction strays into the zone: no visit. A person inside whose
    skipped frames are predicted inside keeps one visit, and leaves on schedule."""
    z = zone()
    stray = [(400, False), (290, True), (400, False), (410, True), (420, False)]
    events = []
    for i, (y, predicted) in enumerate(stray):
        events += z.update(frame((1, "person", foot_box(200, y))), i * 0.2, predicted=predicted)
    assert events == [] and z.occupancy == {}
    events = []
    for i in range(30):  # inside for 3 s, every other frame predicted, then out
        y = 200 if i < 15 else 400
        d = frame((2, "person", foot_box(200, y)))
        events += z.update(d, 10 + i * 0.2, predicted=i % 2 == 1)
    assert kinds(events) == [("zone_enter", 2), ("zone_exit", 2)]

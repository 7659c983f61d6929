"""TrafficFlow: speed from a ground-plane calibration, counts per interval, wrong way."""

import cv2
import numpy as np
import pytest

from agent.analytics.traffic import GroundPlane, TrafficFlow
from agent.config.analytics import CalibrationConfig, LineConfig, TrafficConfig
from agent.config.base import parse_document
from agent.errors import ConfigError
from agent.events.types import AnalyticsEvent, EventKind, TrafficInterval, WrongWay
from tests.analytics.scenes import LABELS, foot_box, frame

# A road receding from the camera: a 7 m wide, 40 m long stretch of ground seen as a
# trapezoid (near edge wide at the bottom of the image, far edge narrow at the top).
IMAGE_QUAD = [[200, 560], [600, 560], [460, 160], [340, 160]]
GROUND_QUAD = [[0, 0], [7, 0], [7, 40], [0, 40]]
CAL = {"image_points": IMAGE_QUAD, "ground_points": GROUND_QUAD}
# Counting line across the road, 20 m from the near edge.
GROUND_TO_IMAGE = cv2.getPerspectiveTransform(
    np.array(GROUND_QUAD, np.float32), np.array(IMAGE_QUAD, np.float32)
)


def image_point(gx: float, gy: float) -> tuple[float, float]:
    p = cv2.perspectiveTransform(np.array([[[gx, gy]]], np.float32), GROUND_TO_IMAGE)[0, 0]
    return float(p[0]), float(p[1])


LINE_Y = image_point(3.5, 20)[1]
LINE = LineConfig(
    id="lane",
    points=((150, LINE_Y), (650, LINE_Y)),
    classes=("car",),
    hysteresis_px=2,
    in_name="inbound",
    out_name="outbound",
)


def interval(event: AnalyticsEvent) -> TrafficInterval:
    return event.detail_as(TrafficInterval)


def wrong(event: AnalyticsEvent) -> WrongWay:
    return event.detail_as(WrongWay)


def flow(**over: object) -> TrafficFlow:
    cfg = TrafficConfig.model_validate(
        {"line_id": "lane", "calibration": CAL, "interval_seconds": 60, **over}
    )
    return TrafficFlow(cfg, LINE, LABELS)


def drive(
    tf: TrafficFlow,
    tid: int,
    speed_ms: float,
    t0: float,
    *,
    towards_camera: bool = True,
    fps: float = 5.0,
    label: str = "car",
) -> list:
    """A vehicle driving along the lane centre at constant ground speed over the 40 m."""
    events = []
    duration = 40.0 / speed_ms
    for k in range(int(duration * fps) + 1):
        t = k / fps
        gy = 40 - speed_ms * t if towards_camera else speed_ms * t
        x, y = image_point(3.5, min(max(gy, 0.2), 39.8))
        events += tf.update(frame((tid, label, foot_box(x, y, 30, 20))), t0 + t)
    return events


def test_ground_plane_maps_calibration_points_exactly() -> None:
    gp = GroundPlane(CalibrationConfig.model_validate(CAL))
    np.testing.assert_allclose(gp.to_ground(IMAGE_QUAD), GROUND_QUAD, atol=1e-4)
    assert gp.contains([[400, 400], [50, 50]]).tolist() == [True, False]


@pytest.mark.parametrize("speed_ms", [10.0, 25.0])
def test_speed_from_calibration_on_known_trajectory(speed_ms: float) -> None:
    tf = flow()
    drive(tf, 1, speed_ms, 0.0)
    (ev,) = tf.flush(100.0)
    # 10 m in 1 s = 36 km/h, wherever on the (perspective) image the car is.
    assert interval(ev).mean_speed_kmh == pytest.approx(speed_ms * 3.6, rel=0.02)
    assert interval(ev).speed_samples == 1
    assert interval(ev).counts == {"car": 1}
    assert (interval(ev).count_in, interval(ev).count_out) == (1, 0)


def test_intervals_align_to_clock_and_count_per_class() -> None:
    tf = flow(speed_limit_kmh=50)
    closed = []
    closed += drive(tf, 1, 10.0, 1000.0)  # minute 16 (960..1020), 36 km/h
    closed += drive(tf, 2, 20.0, 1005.0)  # same minute, 72 km/h: speeding
    closed += drive(tf, 3, 10.0, 1030.0)  # minute 17
    closed += tf.update(frame(), 1085.0)  # first frame of minute 18 closes 17
    flows = [e for e in closed if e.kind is EventKind.TRAFFIC_FLOW]
    assert [interval(e).interval_start for e in flows] == [960.0, 1020.0]
    assert flows[0].capture_time == 1020.0
    assert [interval(e).counts for e in flows] == [{"car": 2}, {"car": 1}]
    assert interval(flows[0]).mean_speed_kmh == pytest.approx(54.0, rel=0.02)
    assert [interval(e).speeding for e in flows] == [1, 0]


def test_wrong_way_alerts_once_per_track() -> None:
    tf = flow(expected_direction="in")
    assert [e.kind for e in drive(tf, 1, 10.0, 0.0)] == []  # towards the camera: "in"
    ev = drive(tf, 2, 10.0, 10.0, towards_camera=False)
    ev += drive(tf, 2, 10.0, 20.0, towards_camera=False)  # same track again
    assert [(e.kind, e.track_id, wrong(e).direction) for e in ev] == [
        (EventKind.WRONG_WAY, 2, "out")
    ]
    assert wrong(ev[0]).speed_kmh == pytest.approx(36.0, rel=0.03)
    (flow_ev,) = tf.flush(60.0)
    assert interval(flow_ev).wrong_way == 1


def test_density_and_congestion_levels() -> None:
    # Region is 40 m long: 1 standing car -> 25 /km (heavy); 2 -> 50 /km (jam); 0 -> free.
    for n, expected in [(0, "free"), (1, "heavy"), (2, "jam")]:
        tf = flow(congestion_density_per_km_lane=[11, 22, 40], lanes=1)
        rows = [(i + 1, "car", foot_box(*image_point(3.5, 10 + 10 * i), 30, 20)) for i in range(n)]
        for k in range(10):
            tf.update(frame(*rows), k * 0.2)
        (ev,) = tf.flush(2.0)
        assert interval(ev).density_per_km_lane == pytest.approx(n * 25.0)
        assert interval(ev).congestion == expected


def test_unconfirmed_and_other_classes_are_ignored() -> None:
    tf = flow()
    drive(tf, -1, 10.0, 0.0)
    drive(tf, 5, 10.0, 10.0, label="person")
    (ev,) = tf.flush(30.0)
    assert interval(ev).counts == {} and interval(ev).speed_samples == 0


def test_config_errors_name_the_field() -> None:
    bad = {
        "line_id": "lane",
        "calibration": {
            "image_points": [[0, 0], [1, 1], [2, 2], [0, 5]],
            "ground_points": GROUND_QUAD,
        },
    }
    with pytest.raises(ConfigError, match=r"calibration\.image_points: .*three of the four"):
        parse_document(TrafficConfig, bad)
    with pytest.raises(ConfigError, match="congestion_density_per_km_lane"):
        parse_document(
            TrafficConfig,
            {"line_id": "lane", "calibration": CAL, "congestion_density_per_km_lane": [30, 20, 40]},
        )


KERB_LINE = LineConfig(
    id="lane",
    points=(image_point(0, 20), image_point(7, 20)),  # kerb to kerb, lane 1 at x = 0 m
    classes=("car",),
    hysteresis_px=2,
)


def drive_at(tf: TrafficFlow, tid: int, gx: float, t0: float, towards: bool = True) -> None:
    for k in range(21):
        gy = 40 - 2 * k if towards else 2 * k
        x, y = image_point(gx, min(max(gy, 0.2), 39.8))
        tf.update(frame((tid, "car", foot_box(x, y, 30, 20))), t0 + k / 5)


def test_lanes_and_passages() -> None:
    cfg = TrafficConfig.model_validate(
        {"line_id": "lane", "calibration": CAL, "interval_seconds": 60, "lanes": 2}
    )
    tf = TrafficFlow(cfg, KERB_LINE, LABELS)
    drive_at(tf, 1, 1.75, 0.0)  # lane 1, towards the camera
    drive_at(tf, 2, 5.25, 10.0)  # lane 2, towards the camera
    drive_at(tf, 3, 5.0, 20.0, towards=False)  # lane 2, away
    (ev,) = tf.flush(60.0)
    flow = interval(ev)
    assert (flow.lane_in, flow.lane_out) == ((1, 1), (0, 1))
    assert flow.flow_per_min == pytest.approx(3.0)
    assert [(p.track_id, p.lane, p.direction) for p in tf.passages] == [
        (1, 1, "in"),
        (2, 2, "in"),
        (3, 2, "out"),
    ]
    assert all(p.speed_kmh == pytest.approx(36.0, rel=0.02) for p in tf.passages)


def test_speeds_are_uncalibrated_until_surveyed(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        tf = flow()
    assert "not surveyed" in caplog.text
    drive(tf, 1, 10.0, 0.0)
    (ev,) = tf.flush(30.0)
    assert not interval(ev).speed_calibrated
    caplog.clear()
    with caplog.at_level("WARNING"):
        tf = flow(calibration={**CAL, "surveyed": True})
    assert "not surveyed" not in caplog.text
    drive(tf, 1, 10.0, 0.0)
    (ev,) = tf.flush(30.0)
    assert interval(ev).speed_calibrated


def test_ground_plane_round_trip_and_distance() -> None:
    gp = GroundPlane(CalibrationConfig.model_validate(CAL))
    np.testing.assert_allclose(gp.to_image(GROUND_QUAD), IMAGE_QUAD, atol=1e-3)
    assert gp.distance_m(image_point(0, 10), image_point(7, 10)) == pytest.approx(7.0, rel=1e-4)

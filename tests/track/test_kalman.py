"""The batched Kalman filter: motion is learned in pixels per second, rows are independent."""

import numpy as np

from agent.track.kalman import KalmanBoxFilter, cxcywh_to_xyxy, xyxy_to_cxcywh


def test_box_conversions_round_trip() -> None:
    boxes = np.array([[10, 20, 50, 100], [0, 0, 1, 1]], np.float64)
    np.testing.assert_allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(boxes)), boxes)


def test_learns_velocity_in_pixels_per_second_and_predicts_across_gaps() -> None:
    kf = KalmanBoxFilter()
    speed = 40.0  # px/s to the right
    box = np.array([[100, 100, 140, 200]], np.float64)
    mean, cov = kf.initiate(box)
    t = 0.0
    for _ in range(15):
        dt = 0.2
        t += dt
        mean, cov = kf.predict(mean, cov, dt)
        mean, cov = kf.update(mean, cov, box + np.array([speed * t, 0, speed * t, 0]))
    assert abs(mean[0, 4] - speed) < 4.0
    # A 1-second gap (skipped frames) must be bridged by the learned velocity.
    pred, _ = kf.predict(mean, cov, 1.0)
    expected_cx = 120 + speed * (t + 1.0)
    assert abs(pred[0, 0] - expected_cx) < 5.0


def test_rows_are_independent_and_dt_per_row() -> None:
    kf = KalmanBoxFilter()
    boxes = np.array([[0, 0, 10, 10], [100, 100, 150, 200]], np.float64)
    mean, cov = kf.initiate(boxes)
    mean[:, 4] = [10.0, -20.0]
    pred, pcov = kf.predict(mean, cov, np.array([1.0, 0.5]))
    np.testing.assert_allclose(pred[:, 0], [15.0, 115.0])
    assert pcov[0, 0, 0] > cov[0, 0, 0]
    one, _ = kf.predict(mean[1:], cov[1:], 0.5)
    np.testing.assert_allclose(one, pred[1:])


def test_update_pulls_towards_measurement_and_shrinks_uncertainty() -> None:
    kf = KalmanBoxFilter()
    mean, cov = kf.initiate(np.array([[0, 0, 20, 40]], np.float64))
    new_mean, new_cov = kf.update(mean, cov, np.array([[4, 0, 24, 40]], np.float64))
    assert 10 < new_mean[0, 0] < 14
    assert new_cov[0, 0, 0] < cov[0, 0, 0]
    np.testing.assert_allclose(new_cov[0], new_cov[0].T)


def test_empty_inputs() -> None:
    kf = KalmanBoxFilter()
    mean, cov = kf.initiate(np.zeros((0, 4)))
    assert mean.shape == (0, 8) and cov.shape == (0, 8, 8)
    assert kf.predict(mean, cov, 0.1)[0].shape == (0, 8)
    assert kf.update(mean, cov, np.zeros((0, 4)))[0].shape == (0, 8)

"""MotionGate on real CCTV footage (vtest.avi) and its hand-labelled boxes."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from agent.config.camera import MotionConfig
from agent.motion.gate import MotionGate
from tests.support.media import VTEST, vtest_labels

LABELS = vtest_labels()


def _frames(step: int = 2, limit: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(index, frame) of vtest at 5 fps (every 2nd frame of 10 fps), like a decimated reader."""
    cap = cv2.VideoCapture(str(VTEST))
    index = 0
    try:
        while limit is None or index < limit:
            ok, frame = cap.read()
            if not ok:
                return
            if index % step == 0:
                yield index, frame
            index += 1
    finally:
        cap.release()


def _inside(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    p, b = points[:, None, :], boxes[None, :, :]
    # asarray: numpy types any() on an array as "array or scalar".
    return np.asarray(
        (
            (p[..., 0] >= b[..., 0])
            & (p[..., 0] <= b[..., 2])
            & (p[..., 1] >= b[..., 1])
            & (p[..., 1] <= b[..., 3])
        ).any(axis=1)
    )


def test_motion_finds_walking_people_not_parked_cars() -> None:
    gate = MotionGate(MotionConfig())
    people_hit = people = cars_hit = cars = 0
    for index, frame in _frames():
        plan = gate.update(frame, index / 10)
        if index < 30 or str(index) not in LABELS:
            continue
        for obj in LABELS[str(index)]:
            if obj["difficult"]:
                continue
            box = np.array(obj["box"], np.float32)
            hit = (
                bool(_inside(((box[:2] + box[2:]) / 2)[None], plan.motion)[0])
                if len(plan.motion)
                else False
            )
            if obj["label"] == "person":
                people, people_hit = people + 1, people_hit + hit
            else:
                cars, cars_hit = cars + 1, cars_hit + hit
    assert people > 100 and cars > 20
    assert people_hit / people >= 0.9
    assert cars_hit == 0


def test_static_scene_gives_no_motion_and_only_interval_passes() -> None:
    frame = next(_frames())[1]
    gate = MotionGate(MotionConfig(full_frame_interval_s=3.0))
    plans = [gate.update(frame, k * 0.2) for k in range(40)]  # 8 s of one still frame
    assert [k for k, p in enumerate(plans) if p.full_frame] == [0, 15, 30]
    assert {p.reason for p in plans} == {"start", "interval", "no-motion"}
    for plan in plans:
        assert len(plan.motion) == 0
        assert len(plan.windows) == (1 if plan.full_frame else 0)


def test_live_tracks_are_looked_at_even_without_motion() -> None:
    frame = next(_frames())[1]
    gate = MotionGate(MotionConfig())
    gate.update(frame, 0.0)
    track = np.array([[620.0, 166.0, 643.0, 236.0]])  # a person standing still
    plan = gate.update(frame, 0.2, tracks=track)
    assert plan.reason == "tracks" and not plan.full_frame and len(plan.windows) == 1
    x1, y1, x2, y2 = plan.windows[0]
    assert x2 - x1 == y2 - y1 == 416 and x1 <= 615 and x2 >= 648


def test_settled_tracks_in_a_still_scene_are_refreshed_not_detected_every_frame() -> None:
    """A parked car's confirmed track, nothing moving: the detector looks at it once per
    `still_refresh_s` (its window), the frames between are "still" skips; a track not
    settled (tentative, or missed by the last pass), motion, or refresh 0 look every frame."""
    frame = next(_frames())[1]
    car = np.array([[648.0, 43.0, 726.0, 98.0]])
    gate = MotionGate(MotionConfig(still_refresh_s=1.0))
    plans = [gate.update(frame, k * 0.2, tracks=car, settled=True) for k in range(16)]
    looked = [k for k, p in enumerate(plans) if len(p.windows)]
    assert looked == [0, 5, 10, 15]  # start, then one refresh a second (the 3 s interval too)
    assert {plans[k].reason for k in range(16) if k not in looked} == {"still"}
    assert plans[5].reason == "tracks" and plans[15].reason == "interval"
    assert all(p.calls == 0 for k, p in enumerate(plans) if k not in looked)

    unsettled = MotionGate(MotionConfig(still_refresh_s=1.0))
    plans = [unsettled.update(frame, k * 0.2, tracks=car, settled=False) for k in range(6)]
    assert all(len(p.windows) == 1 for p in plans)
    off = MotionGate(MotionConfig(still_refresh_s=0.0))
    plans = [off.update(frame, k * 0.2, tracks=car, settled=True) for k in range(6)]
    assert all(len(p.windows) == 1 for p in plans)

    moving = MotionGate(MotionConfig(still_refresh_s=1.0))
    frames = [f for _, f in _frames(limit=40)]
    plans = [moving.update(f, k * 0.2, tracks=car, settled=True) for k, f in enumerate(frames)]
    assert all(len(p.windows) for p in plans[1:] if len(p.motion))
    assert not any(p.reason == "still" for p in plans if len(p.motion))


def test_windows_cover_motion_on_an_hd_view() -> None:
    """On a 2x upscaled view (1536x1152) native-scale 416 windows are the common case."""
    gate = MotionGate(MotionConfig(min_area=1200))
    windowed = 0
    for index, frame in _frames(limit=400):
        big = cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
        plan = gate.update(big, index / 10)
        if plan.full_frame or not len(plan.motion):
            continue
        windowed += 1
        assert len(plan.windows) <= 4
        w = plan.windows
        m = plan.motion[:, None, :]
        held = (
            (m[..., 0] >= w[:, 0])
            & (m[..., 1] >= w[:, 1])
            & (m[..., 2] <= w[:, 2])
            & (m[..., 3] <= w[:, 3])
        ).any(axis=1)
        assert held.all(), (index, plan)
        crops = plan.crops(big)
        assert all(min(c.shape[:2]) >= 416 for c in crops)
    assert windowed > 50


def test_lights_on_is_a_global_change_not_an_object() -> None:
    frames = [f for _, f in _frames(limit=6)]
    gate = MotionGate(MotionConfig(full_frame_interval_s=100))
    for k, frame in enumerate(frames[:2]):
        gate.update(frame, k * 0.2)
    brighter = cv2.convertScaleAbs(frames[2], alpha=1.0, beta=80)
    plan = gate.update(brighter, 0.4)
    assert plan.full_frame and plan.reason == "global-change"
    # The background is re-learnt from the new lighting: the same view is still again.
    assert gate.update(brighter, 0.6).reason == "no-motion"


@pytest.mark.parametrize("enabled", [False, True])
def test_gate_never_writes_to_the_frame(enabled: bool) -> None:
    frames = [f for _, f in _frames(limit=4)]
    before = [f.copy() for f in frames]
    gate = MotionGate(MotionConfig(enabled=enabled))
    for k, frame in enumerate(frames):
        plan = gate.update(frame, k * 0.2, tracks=np.array([[10, 10, 60, 90]]))
        if not enabled:
            assert plan.full_frame and plan.reason == "disabled"
    assert all(np.array_equal(a, b) for a, b in zip(frames, before, strict=True))


def test_skipping_needs_tracks_that_explain_the_motion_and_stops_after_the_budget() -> None:
    frames = [f for _, f in _frames(limit=60)]
    config = MotionConfig(skip_tracked_frames=2, full_frame_interval_s=3600)
    everywhere = np.array([[0.0, 0.0, 768.0, 576.0]])  # a "track" over the whole picture
    nowhere = np.array([[0.0, 0.0, 5.0, 5.0]])  # a track far from every walker
    for tracks, expect_skips in ((nowhere, False), (everywhere, True)):
        gate = MotionGate(config)
        gate.update(frames[0], 0.0)
        reasons = [
            gate.update(f, 0.2 * k, tracks, settled=True).reason
            for k, f in enumerate(frames[1:], 1)
        ]
        assert ("tracked" in reasons) is expect_skips, reasons
        # never more than `skip_tracked_frames` skips in a row: then the detector runs
        run = longest = 0
        for reason in reasons:
            run = run + 1 if reason == "tracked" else 0
            longest = max(longest, run)
        assert longest <= 2
    off = MotionGate(MotionConfig(full_frame_interval_s=3600, skip_tracked_frames=0))
    off.update(frames[0], 0.0)
    assert all(
        off.update(f, 0.2 * k, everywhere, settled=True).reason != "tracked"
        for k, f in enumerate(frames[1:], 1)
    )
    # Tracks not settled (one tentative or lost): only detections confirm or find them.
    unsettled = MotionGate(config)
    unsettled.update(frames[0], 0.0)
    assert all(
        unsettled.update(f, 0.2 * k, everywhere, settled=False).reason != "tracked"
        for k, f in enumerate(frames[1:], 1)
    )

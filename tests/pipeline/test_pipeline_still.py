"""A still scene through the real pipeline: the detector skips it, nothing else changes.

One real frame of vtest.avi (the parked van and car, people standing) repeated for 12 s as
MJPEG is the quietest camera there is: nothing moves, yet the confirmed tracks of the van
and the standing people kept the gate sending their windows to the detector on every
frame. With `motion.still_refresh_s` the detector looks once a second and the tracker's
last output stands in between; with the static-object model at its idle rate
(`abandoned.background.idle_interval_s`) the abandoned rule's model runs about once a
second too. What the rules see and report must not change: the same tracks (ids and
boxes) on every frame, the same events.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.config.camera import CameraSpec, load_camera_spec
from agent.detect.object_detector import ObjectDetector
from agent.events.types import EventKind
from agent.pipeline.offline import analyze_video
from agent.pipeline.stage import FrameResult
from tests.pipeline.conftest import EXAMPLES
from tests.support.media import VTEST

SECONDS = 12


@pytest.fixture(scope="module")
def still_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cap = cv2.VideoCapture(str(VTEST))
    ok, frame = cap.read()
    cap.release()
    assert ok
    out = tmp_path_factory.mktemp("still") / "still.avi"
    h, w = frame.shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (w, h))
    for _ in range(SECONDS * 10):
        writer.write(frame)
    writer.release()
    return out


def _run(
    clip: Path, detector: ObjectDetector, refresh: float, idle: float
) -> tuple[list[FrameResult], int]:
    spec = load_camera_spec(EXAMPLES / "camera.yaml", source=str(clip))
    spec = spec.model_copy(
        update={
            "motion": spec.motion.model_copy(update={"still_refresh_s": refresh}),
            "abandoned": spec.abandoned.model_copy(
                update={
                    "background": spec.abandoned.background.model_copy(
                        update={"idle_interval_s": idle}
                    )
                }
            )
            if spec.abandoned is not None
            else None,
        }
    )
    assert isinstance(spec, CameraSpec)
    analysis = analyze_video(clip, spec, detector)
    frames = list(analysis)
    rule = analysis.stage.analytics.abandoned
    assert rule is not None
    return frames, rule.static_runs


def _kinds(frame: FrameResult) -> list[EventKind]:
    # Traffic interval reports fall on wall-clock boundaries (capture times are the clock's
    # when the file was opened), so which frame carries one depends on the run's start.
    return [e.kind for e in frame.events if e.kind is not EventKind.TRAFFIC_FLOW]


def test_a_still_scene_skips_the_detector_and_reports_the_same(
    still_clip: Path, detector: ObjectDetector
) -> None:
    before, static_before = _run(still_clip, detector, refresh=0.0, idle=0.0)
    after, static_after = _run(still_clip, detector, refresh=1.0, idle=0.8)
    assert len(before) == len(after) == SECONDS * 5
    calls_before = sum(f.plan.calls for f in before)
    calls_after = sum(f.plan.calls for f in after)
    # Every frame looked at the tracks' windows before; now about one frame a second.
    assert calls_before >= len(before) - 3
    assert calls_after <= calls_before / 3, (calls_before, calls_after)
    assert {f.plan.reason for f in after} >= {"still"}
    assert len(before[-1].tracks) >= 2  # the van and the people standing are tracked
    assert sum(len(_kinds(f)) for f in before) >= 1  # the people standing in the junction
    for b, a in zip(before, after, strict=True):
        assert sorted(b.tracks.tracker_id.tolist()) == sorted(a.tracks.tracker_id.tolist())
        order_b, order_a = np.argsort(b.tracks.tracker_id), np.argsort(a.tracks.tracker_id)
        assert np.allclose(b.tracks.xyxy[order_b], a.tracks.xyxy[order_a], atol=0.5)
        assert _kinds(b) == _kinds(a)
    # The static-object model ran on every frame before, about once per 0.8 s after.
    assert static_before == len(before)
    assert static_after <= len(after) / 3, static_after

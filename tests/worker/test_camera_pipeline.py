"""Camera pipelines end to end: real readers, the motion gate, one shared real detector."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from agent.capture.reader import ReaderState
from agent.config.camera import CameraConfig
from agent.detect.object_detector import ObjectDetector
from agent.detect.worker import InferenceWorker
from agent.detections import box_iou
from agent.pipeline.camera import CameraPipeline, FrameDetections
from tests.capture.readers import FAST_RETRY
from tests.support.media import VTEST, RtspServer, vtest_labels
from tests.support.net import free_port
from tests.worker.sinks import PerCamera


def detections_sink() -> PerCamera[FrameDetections]:
    return PerCamera(lambda out: out.frame.camera_id)


def test_offline_file_detects_every_decimated_frame(detector: ObjectDetector) -> None:
    labels = vtest_labels()
    sink = detections_sink()
    last: list[np.ndarray] = [np.empty((0, 4), np.float32)]

    def tracks() -> np.ndarray:  # stand-in for the tracker: last frame's boxes
        return last[0]

    def on_detections(out: FrameDetections) -> None:
        last[0] = out.detections.xyxy
        sink(out)

    config = CameraConfig(id="file", source=str(VTEST), realtime=False, detect_fps=0.5)
    with InferenceWorker(detector.detect) as worker:
        pipeline = CameraPipeline(config, worker, on_detections, tracks=tracks).start()
        pipeline.join(120)
        health = pipeline.health()
    results = sink.by_camera["file"]
    assert health.camera.state is ReaderState.ENDED
    assert len(results) == health.camera.frames_delivered == 40  # 795 frames / 20
    assert health.inference is not None and health.inference.skipped == 0
    assert [r.frame.index for r in results] == list(range(1, 796, 20))
    assert sum(health.plans.values()) == 40 and health.plans["start"] == 1
    assert health.error is None
    found = total = 0
    for r in results:
        frame_no = str(r.frame.index - 1)
        if frame_no not in labels:
            continue
        people = np.array(
            [o["box"] for o in labels[frame_no] if o["label"] == "person" and not o["difficult"]],
            np.float32,
        )
        persons = r.detections.xyxy[r.detections.class_id == 0]
        total += len(people)
        if len(persons) and len(people):
            found += int((box_iou(people, persons).max(axis=1) >= 0.5).sum())
    assert total > 50 and found / total >= 0.6


def test_live_cameras_share_one_worker_and_a_dead_one_costs_nothing(
    detector: ObjectDetector, clip: Path
) -> None:
    sink = detections_sink()
    servers = [RtspServer(clip).start(), RtspServer(clip).start()]
    configs = [
        CameraConfig(id=f"live-{k}", source=s.url, **FAST_RETRY) for k, s in enumerate(servers)
    ]
    configs.append(
        CameraConfig(id="dead", source=f"rtsp://127.0.0.1:{free_port()}/cam", **FAST_RETRY)
    )
    worker = InferenceWorker(detector.detect, max_batch=8).start()
    pipelines = [CameraPipeline(c, worker, sink).start() for c in configs]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and min(sink.count("live-0"), sink.count("live-1")) < 10:
            time.sleep(0.1)
        health = {p.camera_id: p.health() for p in pipelines}
    finally:
        for pipeline in pipelines:
            pipeline.stop(5)
        worker.stop(10)
        for server in servers:
            server.stop()
    for cam in ("live-0", "live-1"):
        results = sink.by_camera[cam]
        assert len(results) >= 10, health[cam]
        times = [r.frame.capture_time for r in results]
        assert times == sorted(times)
        assert sum(int((r.detections.class_id == 0).sum()) for r in results) >= 10
        assert all(r.error is None for r in results)
        h, w = results[0].frame.shape
        boxes = np.concatenate([r.detections.xyxy for r in results])
        assert (boxes >= 0).all() and (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
    dead = health["dead"]
    assert dead.camera.state in (ReaderState.BACKOFF, ReaderState.CONNECTING)
    assert dead.camera.last_error and "cannot connect" in dead.camera.last_error
    assert dead.inference is None and not sink.by_camera["dead"]


def test_pipeline_failure_is_reported_not_silent() -> None:
    """The worker stopped under a running camera: the camera says so in its health."""
    worker = InferenceWorker(lambda images: [])
    worker.stop()
    config = CameraConfig(id="orphan", source=str(VTEST), realtime=False)
    pipeline = CameraPipeline(config, worker, detections_sink()).start()
    pipeline.join(20)
    health = pipeline.health()
    assert health.error is not None and "inference worker is stopped" in health.error
    pipeline.stop(5)
    assert pipeline.reader.finished

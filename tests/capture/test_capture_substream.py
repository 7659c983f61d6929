"""A camera's detect substream: its config, the pixel scaling, and readers on real streams.

The RTSP tests serve vtest as two real cameras' worth of streams: the main profile (768x576
H.264) and the substream (the same clip shrunk 2x with ffmpeg, 384x288), each from its own
GStreamer RTSP server on loopback.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.capture.frame import Frame
from agent.capture.reader import ReaderState
from agent.config.agent import AgentConfig
from agent.config.base import parse_document
from agent.config.camera import CameraConfig, CameraSpec, MotionConfig
from agent.detections import Detections
from agent.errors import ConfigError
from agent.pipeline.coords import gate_config, to_detect, to_main
from agent.pipeline.observe import CameraStatus, PipelineCollector, status_dict
from tests.capture.readers import collect, make_reader, wait_until
from tests.support.media import VTEST, RtspServer
from tests.support.net import free_port

MAIN = (576, 768)  # vtest.avi, (height, width)
SUB = (288, 384)


def camera_error(entry: dict[str, Any]) -> str:
    doc = {"cameras": [{"id": "cam", "source": "rtsp://cam/main", **entry}]}
    with pytest.raises(ConfigError) as err:
        parse_document(AgentConfig, doc, "agent.yaml")
    return str(err.value)


# ----- config ---------------------------------------------------------------------------
def test_substream_config_parses_with_or_without_declared_size() -> None:
    cam = CameraConfig(id="c", source="rtsp://cam/main", substream={"source": "rtsp://cam/sub"})
    assert cam.substream is not None and cam.substream.main_shape is None
    declared = {"source": "rtsp://cam/sub", "main_width": 768, "main_height": 576}
    cam = CameraConfig(id="c", source="rtsp://cam/main", substream=declared)
    assert cam.substream is not None and cam.substream.main_shape == MAIN
    assert CameraConfig(id="c", source="rtsp://cam/main").substream is None


@pytest.mark.parametrize(
    ("substream", "field", "says"),
    [
        ({"source": "ftp://cam/sub"}, "cameras[0].substream.source", "unsupported scheme"),
        ({"source": ""}, "cameras[0].substream.source", "at least 1 character"),
        ({"url": "rtsp://cam/sub"}, "cameras[0].substream.url", "Extra inputs"),
        (
            {"source": "rtsp://cam/sub", "main_width": 768},
            "cameras[0].substream",
            "main_width and main_height: give both or neither",
        ),
        (
            {"source": "rtsp://cam/sub", "main_width": 8, "main_height": 576},
            "cameras[0].substream.main_width",
            "greater than or equal to 16",
        ),
        (
            {"source": "rtsp://cam/sub", "main_width": 768, "main_height": 99_999},
            "cameras[0].substream.main_height",
            "less than or equal to 16384",
        ),
        ({"source": "rtsp://cam/main"}, "cameras[0]", "substream.source: is the main source"),
    ],
)
def test_bad_substream_config_names_the_field(
    substream: dict[str, Any], field: str, says: str
) -> None:
    message = camera_error({"substream": substream})
    line = next(ln for ln in message.splitlines() if says in ln)
    assert line.strip().startswith(f"{field}:"), message


def test_faces_on_a_substream_camera_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="faces: face crops need main-stream pixels"):
        CameraSpec(
            id="c", source="rtsp://cam/main", substream={"source": "rtsp://cam/sub"}, faces={}
        )


# ----- scaling --------------------------------------------------------------------------
def test_frame_scale_is_per_axis() -> None:
    cif = Frame("c", 1, 0.0, None, np.zeros((288, 352, 3), np.uint8), main_shape=MAIN)
    assert cif.scale == pytest.approx((768 / 352, 2.0)) and cif.scaled
    assert cif.event_shape == MAIN and cif.event_image().shape == (*MAIN, 3)
    plain = Frame("c", 1, 0.0, None, np.zeros((*MAIN, 3), np.uint8))
    assert plain.scale == (1.0, 1.0) and not plain.scaled and plain.event_image() is plain.image


def test_detections_scale_up_and_tracks_scale_back_down() -> None:
    found = Detections(
        np.array([[10, 20, 50, 120], [0, 0, 384, 288]], np.float32),
        np.array([0.9, 0.4], np.float32),
        np.array([0, 2]),
        keypoints=np.array([[[15, 30]], [[1, 2]]], np.float32),
    )
    main = to_main(found, (2.0, 2.0))
    np.testing.assert_allclose(main.xyxy, [[20, 40, 100, 240], [0, 0, 768, 576]])
    assert main.keypoints is not None
    np.testing.assert_allclose(main.keypoints, [[[30, 60]], [[2, 4]]])
    assert (
        main.class_id.tolist() == [0, 2] and main.confidence.tolist() == found.confidence.tolist()
    )
    np.testing.assert_allclose(to_detect(main.xyxy, (2.0, 2.0)), found.xyxy)
    assert to_main(found, (1.0, 1.0)) is found


def test_gate_min_area_is_main_stream_pixels() -> None:
    motion = MotionConfig(min_area=400)
    assert gate_config(motion, (2.0, 2.0)).min_area == 100
    assert gate_config(motion, (1.0, 1.0)) is motion
    assert gate_config(MotionConfig(min_area=1), (4.0, 4.0)).min_area == 1


# ----- readers --------------------------------------------------------------------------
def test_file_substream_frames_carry_the_probed_main_size(tmp_path: Path) -> None:
    sub = tmp_path / "sub.avi"
    cmd = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(VTEST), "-t", "3"]
    cmd += ["-vf", "scale=384:288", "-c:v", "mjpeg", "-q:v", "3", str(sub)]
    subprocess.run(cmd, check=True, timeout=60)
    reader = make_reader(str(VTEST), substream={"source": str(sub)}, realtime=False).start()
    try:
        frames = collect(reader, 5, timeout=20)
        health = reader.health()
    finally:
        reader.stop(5)
    assert all(f.shape == SUB and f.main_shape == MAIN for f in frames)
    assert health.substream and health.main_shape == MAIN
    assert health.source == f"substream {sub}"


def test_rtsp_substream_read_main_probed_over_rtsp(clip: Path, sub_clip: Path) -> None:
    with RtspServer(clip) as main, RtspServer(sub_clip) as sub:
        reader = make_reader(main.url, substream={"source": sub.url}).start()
        try:
            frames = collect(reader, 6, timeout=20)
            health = reader.health()
        finally:
            reader.stop(5)
    assert all(f.shape == SUB and f.main_shape == MAIN for f in frames)
    assert frames[0].scale == (2.0, 2.0)
    assert health.state is ReaderState.STREAMING and health.source == f"substream {sub.url}"


def test_declared_main_size_never_opens_the_main_stream(sub_clip: Path) -> None:
    """Main stream dead, size declared: the substream alone is enough."""
    dead_main = f"rtsp://127.0.0.1:{free_port()}/cam"
    with RtspServer(sub_clip) as sub:
        declared = {"source": sub.url, "main_width": 768, "main_height": 576}
        reader = make_reader(dead_main, substream=declared).start()
        try:
            frames = collect(reader, 3, timeout=20)
        finally:
            reader.stop(5)
    assert all(f.main_shape == MAIN and f.shape == SUB for f in frames)


def test_dead_substream_is_retried_and_named_never_replaced_by_main(
    rtsp_server: RtspServer,
) -> None:
    port = free_port()
    dead = f"rtsp://admin:s3cret@127.0.0.1:{port}/sub"
    reader = make_reader(rtsp_server.url, substream={"source": dead}).start()
    try:
        wait_until(lambda: reader.health().reconnects >= 2, 20, "retries of the dead substream")
        health = reader.health()
        assert reader.read(0.2) is None  # no frame of the live main stream sneaks in
    finally:
        reader.stop(5)
    assert health.state in (ReaderState.BACKOFF, ReaderState.CONNECTING)
    label = f"substream rtsp://admin:***@127.0.0.1:{port}/sub"
    assert health.last_error == f"{label}: cannot connect or no video"
    assert health.source == label  # the password never reaches health or logs
    assert health.frames_delivered == 0


def test_unprobeable_main_stream_says_to_declare_its_size(sub_clip: Path) -> None:
    dead_main = f"rtsp://127.0.0.1:{free_port()}/cam"
    with RtspServer(sub_clip) as sub:
        reader = make_reader(dead_main, substream={"source": sub.url}).start()
        try:
            wait_until(lambda: reader.health().last_error is not None, 20, "the probe to fail")
            health = reader.health()
        finally:
            reader.stop(5)
    assert health.last_error is not None
    assert health.last_error.startswith("main stream size unknown (set substream.main_width/")
    assert dead_main in health.last_error and health.frames_delivered == 0


def test_substream_camera_is_visible_in_metrics_and_health() -> None:
    def status(substream: bool) -> CameraStatus:
        return CameraStatus("cam", "backoff", 0.0, 0, 0, 0, 3, 0, {}, 0.0, "substream x", substream)

    collector = PipelineCollector(
        lambda: [status(True), dataclasses.replace(status(False), camera_id="b")]
    )
    gauges = {m.name: m for m in collector.collect()}
    samples = {s.labels["camera"]: s.value for s in gauges["oko_agent_camera_substream"].samples}
    assert samples == {"cam": 1.0, "b": 0.0}
    assert status_dict(status(True))["substream"] is True

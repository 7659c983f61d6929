"""Small helpers shared by the reader tests: make readers, wait for states, collect frames."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from agent.capture.frame import Frame
from agent.capture.reader import CameraReader
from agent.config.camera import CameraConfig

FAST_RETRY: dict[str, Any] = {
    "stall_timeout_s": 2.0,
    "open_timeout_s": 2.0,
    "reconnect_min_s": 0.2,
    "reconnect_max_s": 1.0,
}


def make_reader(source: str, camera_id: str = "cam", **overrides: Any) -> CameraReader:
    return CameraReader(CameraConfig(id=camera_id, source=source, **{**FAST_RETRY, **overrides}))


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def collect(reader: CameraReader, count: int, timeout: float) -> list[Frame]:
    """Read `count` frames, failing with the camera's health if they do not come in time."""
    frames: list[Frame] = []
    deadline = time.monotonic() + timeout
    while len(frames) < count and time.monotonic() < deadline:
        frame = reader.read(0.2)
        if frame is not None:
            frames.append(frame)
    assert len(frames) == count, f"got {len(frames)}/{count} frames; {reader.health()}"
    return frames

"""CameraReader on real files: decimation, pacing, drop counting, bad files, damaged files."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.capture.reader import CameraHealth, ReaderState, is_valid_frame
from tests.capture.readers import collect, make_reader, wait_until
from tests.support.media import VTEST


def _drain(reader_source: str, **overrides: Any) -> tuple[list, CameraHealth]:
    reader = make_reader(reader_source, realtime=False, **overrides).start()
    frames = []
    while (frame := reader.read(10)) is not None:
        frames.append(frame)
    reader.stop(5)
    return frames, reader.health()


def test_offline_file_delivers_every_decimated_frame_in_order() -> None:
    frames, health = _drain(str(VTEST))
    # 795 frames at 10 fps decimated to 5 fps: every other frame, none dropped.
    assert len(frames) == 398
    assert [f.index for f in frames] == list(range(1, 796, 2))
    pts = np.array([f.pts for f in frames])
    assert np.allclose(np.diff(pts), 0.2, atol=1e-6)
    assert np.all(np.diff([f.capture_time for f in frames]) > 0)
    assert frames[0].shape == (576, 768) and frames[0].image.dtype == np.uint8
    assert health.state is ReaderState.ENDED
    assert (health.frames_decoded, health.frames_delivered, health.frames_dropped) == (795, 398, 0)
    assert health.last_error is None


def test_offline_detect_fps_follows_config() -> None:
    frames, _ = _drain(str(VTEST), detect_fps=2.0)
    assert len(frames) == 159  # every 5th of 795


def test_realtime_file_plays_at_native_rate_decimated() -> None:
    reader = make_reader(str(VTEST), realtime=True).start()
    try:
        frames = collect(reader, 8, timeout=10)
    finally:
        reader.stop(5)
    gaps = np.diff([f.capture_time for f in frames])
    # Paced like a live camera, not dumped as fast as it decodes.
    assert 0.15 < statistics.median(gaps) < 0.3
    assert np.allclose(np.diff([f.pts for f in frames]), 0.2, atol=1e-6)
    assert reader.health().state is ReaderState.STOPPED


def test_slow_consumer_sees_newest_frame_and_drops_are_counted() -> None:
    reader = make_reader(str(VTEST), realtime=True).start()
    try:
        collect(reader, 1, timeout=10)
        time.sleep(1.5)  # consumer busy: the reader keeps going and replaces the frame
        newest = collect(reader, 1, timeout=5)[0]
        health = reader.health()
    finally:
        reader.stop(5)
    assert health.frames_dropped >= 4
    assert newest.pts is not None and newest.pts >= 1.2


@pytest.mark.parametrize("name", ["garbage.mp4", "missing.avi"])
def test_unreadable_file_fails_with_clear_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.startswith("garbage"):
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, np.uint8).tobytes())
    reader = make_reader(str(path)).start()
    wait_until(lambda: reader.finished, 10, "reader to give up")
    health = reader.health()
    assert health.state is ReaderState.FAILED
    assert health.last_error is not None and name in health.last_error
    assert reader.read(0) is None


def test_damaged_file_is_read_past_the_damage(tmp_path: Path) -> None:
    data = bytearray(VTEST.read_bytes())
    start, end = int(len(data) * 0.40), int(len(data) * 0.45)
    data[start:end] = np.random.default_rng(0).integers(0, 256, end - start, np.uint8).tobytes()
    damaged = tmp_path / "damaged.avi"
    damaged.write_bytes(bytes(data))
    frames, health = _drain(str(damaged))
    assert health.state is ReaderState.ENDED
    assert 300 < len(frames) < 398
    assert max(f.pts for f in frames) > 70  # frames after the damaged stretch still came


def test_frame_validity_rule() -> None:
    assert is_valid_frame(np.zeros((4, 6, 3), np.uint8))
    for bad in (
        None,
        np.zeros((4, 6), np.uint8),
        np.zeros((4, 6, 4), np.uint8),
        np.zeros((0, 6, 3), np.uint8),
        np.zeros((4, 6, 3), np.float32),
    ):
        assert not is_valid_frame(bad)

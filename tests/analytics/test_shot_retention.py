"""Best shots on the box are deleted after `shot_retention_hours`: real files, injected clock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.config.analytics import CameraAnalyticsConfig
from agent.config.base import parse_document
from agent.errors import ConfigError
from agent.events.convert import EventMinter
from agent.events.types import AnalyticsEvent
from agent.faces.shots import FaceShotStore
from tests.analytics.faces_support import hopper_face_event

HOUR = 3600.0
T0 = 1_800_000_000.0


class Clock:
    """Wall-clock seconds the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def face_event() -> AnalyticsEvent:
    return hopper_face_event()


def _save(store: FaceShotStore, event: AnalyticsEvent) -> Path:
    (path,) = store.save([event], EventMinter("cam-1").mint_all([event]))
    return path


def test_shots_past_retention_are_deleted_as_later_frames_are_saved(
    face_event: AnalyticsEvent, tmp_path: Path
) -> None:
    clock = Clock(T0)
    store = FaceShotStore(tmp_path, retention_s=24 * HOUR, clock=clock)
    paths = []
    for hours in (0, 1, 23):
        clock.now = T0 + hours * HOUR
        paths.append(_save(store, face_event))
    clock.now = T0 + 24 * HOUR - 1
    store.save([], [])  # a frame without faces still checks
    assert all(p.exists() for p in paths)
    clock.now = T0 + 24 * HOUR + 1
    store.save([], [])
    assert [p.exists() for p in paths] == [False, True, True]
    clock.now = T0 + 47 * HOUR + 1
    newest = _save(store, face_event)
    assert [p.exists() for p in paths] == [False, False, False] and newest.exists()
    assert store.deleted == 3
    assert sorted(tmp_path.iterdir()) == [newest]


def test_shots_left_by_an_earlier_run_are_deleted_at_start_by_file_time(tmp_path: Path) -> None:
    def _file(name: str, age_hours: float) -> Path:
        path = tmp_path / name
        path.write_bytes(b"\xff\xd8 not really a jpeg")
        stamp = T0 - age_hours * HOUR
        os.utime(path, (stamp, stamp))
        return path

    old = _file("old.jpg", 30)
    half_written = _file("crashed.jpg.tmp", 30)
    young = _file("young.jpg", 2)
    foreign = _file("notes.txt", 300)  # not ours: never touched
    FaceShotStore(tmp_path, retention_s=24 * HOUR, clock=Clock(T0))
    assert not old.exists() and not half_written.exists()
    assert young.exists() and foreign.exists()


def test_without_retention_shots_are_kept(face_event: AnalyticsEvent, tmp_path: Path) -> None:
    clock = Clock(T0)
    store = FaceShotStore(tmp_path, clock=clock)
    path = _save(store, face_event)
    clock.now = T0 + 1000 * HOUR
    store.save([], [])
    assert path.exists() and store.expire() == 0
    with pytest.raises(ValueError, match="retention_s must be > 0"):
        FaceShotStore(tmp_path, retention_s=0)


def test_shot_retention_is_bounded_and_named_in_errors() -> None:
    faces = parse_document(CameraAnalyticsConfig, {"faces": {}}).faces
    assert faces is not None and faces.shot_retention_hours == 24
    for bad in (0, -1, 24 * 31):
        with pytest.raises(ConfigError, match=r"faces\.shot_retention_hours"):
            parse_document(CameraAnalyticsConfig, {"faces": {"shot_retention_hours": bad}})

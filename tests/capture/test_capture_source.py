"""Parsing and opening sources: every bad source gets an error naming what was wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.capture.source import open_capture
from agent.config.agent import AgentConfig
from agent.config.base import parse_document
from agent.config.camera import CameraConfig
from agent.config.source import SourceKind, parse_source, redact
from agent.errors import ConfigError, SourceError


@pytest.mark.parametrize(
    ("text", "kind", "target", "label"),
    [
        (
            "rtsp://cam.local:554/stream1",
            SourceKind.RTSP,
            "rtsp://cam.local:554/stream1",
            "rtsp://cam.local:554/stream1",
        ),
        (
            "rtsp://admin:s3cret@10.0.0.5/live",
            SourceKind.RTSP,
            "rtsp://admin:s3cret@10.0.0.5/live",
            "rtsp://admin:***@10.0.0.5/live",
        ),
        (
            "rtsps://u:p@h:322/x?a=1",
            SourceKind.RTSP,
            "rtsps://u:p@h:322/x?a=1",
            "rtsps://u:***@h:322/x?a=1",
        ),
        (
            "https://cam/mjpg/video.mjpg",
            SourceKind.HTTP,
            "https://cam/mjpg/video.mjpg",
            "https://cam/mjpg/video.mjpg",
        ),
        ("file:///var/clips/a.mp4", SourceKind.FILE, "/var/clips/a.mp4", "/var/clips/a.mp4"),
        ("clips/a b.mp4", SourceKind.FILE, "clips/a b.mp4", "clips/a b.mp4"),
    ],
)
def test_parse_source_kinds_and_redaction(
    text: str, kind: SourceKind, target: str, label: str
) -> None:
    spec = parse_source(text)
    assert (spec.kind, spec.target, spec.label) == (kind, target, label)
    assert "s3cret" not in spec.label
    assert spec.is_live == (kind is not SourceKind.FILE)


def test_parse_usb_device() -> None:
    spec = parse_source("usb:2")
    assert spec.kind is SourceKind.USB and spec.device == 2 and spec.is_live


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("rtsp:///nohost", "no host"),
        ("ftp://u:pw@h/x.mp4", "unsupported scheme 'ftp'"),
        ("file://", "no path"),
    ],
)
def test_parse_source_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message) as info:
        parse_source(text)
    assert "pw" not in str(info.value)


def test_redact_leaves_plain_urls_alone() -> None:
    assert redact("rtsp://h/x") == "rtsp://h/x"
    assert redact("rtsp://user@h/x") == "rtsp://user@h/x"


def test_open_missing_file_says_no_such_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"missing\.mp4: no such file"):
        open_capture(parse_source(str(tmp_path / "missing.mp4")), 2, 2)


def test_open_garbage_file_says_not_a_video(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(bytes(range(256)) * 400)
    with pytest.raises(SourceError, match=r"garbage\.mp4: not a readable video"):
        open_capture(parse_source(str(garbage)), 2, 2)


def test_open_absent_usb_device_names_it() -> None:
    with pytest.raises(SourceError, match="no such device /dev/video63"):
        open_capture(parse_source("usb:63"), 2, 2)


def test_camera_config_defaults_and_errors() -> None:
    cfg = parse_document(CameraConfig, {"id": "gate-1", "source": "rtsp://h/x"})
    assert cfg.detect_fps == 5.0 and cfg.motion.full_frame_interval_s > 0
    with pytest.raises(ConfigError, match=r"cameras?.*source|source"):
        parse_document(CameraConfig, {"id": "c", "source": "gopher://h/x"})
    with pytest.raises(ConfigError, match="reconnect_min_s"):
        parse_document(
            CameraConfig, {"id": "c", "source": "a.mp4", "reconnect_min_s": 9, "reconnect_max_s": 1}
        )
    with pytest.raises(ConfigError, match=r"motion\.threshold"):
        parse_document(CameraConfig, {"id": "c", "source": "a.mp4", "motion": {"threshold": 0}})
    with pytest.raises(ConfigError, match="detect_fps"):
        parse_document(CameraConfig, {"id": "c", "source": "a.mp4", "detect_fps": 0})
    with pytest.raises(ConfigError, match="typo_field"):
        parse_document(CameraConfig, {"id": "c", "source": "a.mp4", "typo_field": 1})


def parse_cameras(entries: list[object], where: str) -> tuple[CameraConfig, ...]:
    return parse_document(AgentConfig, {"cameras": entries}, where).cameras


def test_box_cameras_name_the_entry_and_refuse_duplicate_ids() -> None:
    cams = parse_cameras(
        [{"id": "a", "source": "usb:0"}, {"id": "b", "source": "x.mp4"}], "box.yaml"
    )
    assert [c.id for c in cams] == ["a", "b"]
    with pytest.raises(ConfigError, match=r"(?s)box\.yaml: .*cameras\[1\]\.id: duplicate 'a'"):
        parse_cameras([{"id": "a", "source": "usb:0"}, {"id": "a", "source": "y.mp4"}], "box.yaml")
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.stall_timeout_s: Input should"):
        parse_cameras([{"id": "a", "source": "usb:0", "stall_timeout_s": -1}], "box.yaml")
    with pytest.raises(ConfigError, match=r"cameras\[0\]: Input should be a valid dictionary"):
        parse_cameras(["rtsp://h/x"], "box.yaml")

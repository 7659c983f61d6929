"""`oko-agent analyze` end to end on real footage, and its errors."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import pytest
import yaml
from typer.testing import CliRunner

from agent.cli import app
from agent.pipeline.sinks import read_jsonl
from tests.pipeline.conftest import EXAMPLES
from tests.support.media import VTEST

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


def analyze(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["analyze", *args], env=ENV)
    return result.exit_code, result.stdout, result.stderr


def test_analyze_writes_events_summary_and_annotated_video(
    short_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    video = tmp_path / "annotated.mp4"
    code, out, err = analyze(
        str(short_clip), "--config", str(EXAMPLES / "camera.yaml"), "--annotate", str(video)
    )
    assert code == 0, err
    # Default events file: ./<video stem>.events.jsonl in the working directory.
    events = read_jsonl(tmp_path / f"{short_clip.stem}.events.jsonl")
    assert events and [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert all(e.camera_id == "vtest" for e in events)
    crossings = [e for e in events if e.WhichOneof("body") == "line_crossing"]
    assert crossings, "people cross the road line in frames 250-299"
    # The summary table agrees with the file.
    for title in ("Line crossings", "Zones", "Traffic", "Alerts"):
        assert title in out
    road = [e.line_crossing for e in crossings if e.line_crossing.line_id == "road"]
    n_in = sum(c.direction_name == "rightwards" for c in road)
    n_out = len(road) - n_in
    assert f"{n_in} (rightwards)" in out and f"{n_out} (leftwards)" in out
    assert "25 frames analysed at 5 fps" in out
    # The annotated video is readable: one frame per analysed frame, full size.
    cap = cv2.VideoCapture(str(video))
    frames = 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        assert image.shape == (576, 768, 3)
        frames += 1
    cap.release()
    assert frames == 25


def _camera_yaml(tmp_path: Path, change: dict) -> Path:
    doc = yaml.safe_load((EXAMPLES / "camera.yaml").read_text())
    doc.update(change)
    path = tmp_path / "camera.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"lines": [{"id": "road", "points": [[330, 400], [330, 400]]}]}, "lines[0].points"),
        ({"detect_fps": 0}, "detect_fps"),
        ({"zones": [{"id": "z", "polygon": [[0, 0], [1, 1]]}]}, "zones[0].polygon"),
        ({"linez": []}, "linez"),
        (
            {
                "traffic": [
                    {
                        "line_id": "nope",
                        "calibration": {
                            "image_points": [[0, 0], [10, 0], [10, 10], [0, 10]],
                            "ground_points": [[0, 0], [1, 0], [1, 1], [0, 1]],
                        },
                    }
                ]
            },
            "traffic[0].line_id",
        ),
    ],
)
def test_bad_config_names_the_field(
    short_clip: Path, tmp_path: Path, change: dict, named: str
) -> None:
    config = _camera_yaml(tmp_path, change)
    code, _, err = analyze(
        str(short_clip), "--config", str(config), "--events", str(tmp_path / "e.jsonl")
    )
    assert code == 2
    assert err.startswith(f"error: {config}") and named in err, err
    assert not (tmp_path / "e.jsonl").exists()


def test_rule_class_unknown_to_the_detector_is_named(short_clip: Path, tmp_path: Path) -> None:
    config = _camera_yaml(
        tmp_path,
        {
            "zones": [
                {"id": "junction", "polygon": [[0, 0], [100, 0], [100, 100]], "classes": ["persn"]}
            ]
        },
    )
    code, _, err = analyze(
        str(short_clip), "--config", str(config), "--events", str(tmp_path / "e.jsonl")
    )
    assert code == 2, err
    assert err.startswith(f"error: {config}: zones[junction].classes: 'persn'"), err
    assert not (tmp_path / "e.jsonl").exists()


def test_truncated_video_is_analysed_with_a_warning(tmp_path: Path) -> None:
    """A copy cut off after 5 % of its bytes still opens and decodes what it can;
    analyze says how much is missing instead of presenting partial counts as whole."""
    data = VTEST.read_bytes()
    damaged = tmp_path / "truncated.avi"
    damaged.write_bytes(data[: len(data) // 20])
    code, out, err = analyze(
        str(damaged),
        "--config",
        str(EXAMPLES / "camera.yaml"),
        "--events",
        str(tmp_path / "e.jsonl"),
        "--no-progress",
    )
    assert code == 0, err
    assert f"warning: {damaged}: decoded" in err and "of the 795 frames" in err
    assert "Line crossings" in out


@pytest.mark.parametrize("content", [os.urandom(64 * 1024), b""])
def test_corrupt_video_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    broken = tmp_path / "broken.avi"
    broken.write_bytes(content)
    code, out, err = analyze(
        str(broken),
        "--config",
        str(EXAMPLES / "camera.yaml"),
        "--events",
        str(tmp_path / "e.jsonl"),
        "--no-progress",
    )
    assert code == 2
    assert err.strip().splitlines()[-1] == f"error: {broken}: not a readable video", err
    assert "Line crossings" not in out


def test_missing_video_and_missing_config(tmp_path: Path) -> None:
    code, _, err = analyze(str(tmp_path / "none.avi"), "--config", str(EXAMPLES / "camera.yaml"))
    assert code == 2 and f"error: {tmp_path / 'none.avi'}: no such file" in err
    code, _, err = analyze(str(tmp_path / "none.avi"), "--config", str(tmp_path / "no.yaml"))
    assert code == 2 and f"{tmp_path / 'no.yaml'}: cannot read config" in err

"""`oko-agent calibrate`: pixel grid, ground grid, checks against known lengths."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from agent.cli import app
from agent.config.analytics import CalibrationConfig

# A 7 m x 40 m road seen in perspective (as in test_traffic.py).
IMAGE = "200,560 600,560 460,160 340,160"
GROUND = "0,0 7,0 7,40 0,40"
H = cv2.getPerspectiveTransform(
    np.array([[0, 0], [7, 0], [7, 40], [0, 40]], np.float32),
    np.array([[200, 560], [600, 560], [460, 160], [340, 160]], np.float32),
)


def pixel(gx: float, gy: float) -> str:
    p = cv2.perspectiveTransform(np.array([[[gx, gy]]], np.float32), H)[0, 0]
    return f"{p[0]:.2f},{p[1]:.2f}"


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "cam.png"
    cv2.imwrite(str(path), np.full((576, 768, 3), 90, np.uint8))
    return path


def calibrate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["calibrate", *args])
    return result.exit_code, result.output


def test_without_points_writes_a_pixel_grid(picture: Path) -> None:
    code, out = calibrate(str(picture))
    grid = cv2.imread(str(picture.with_suffix(".calibration.png")))
    assert code == 0 and "50 px grid" in out
    assert grid is not None and (grid != 90).any()


def test_checks_a_known_length_and_prints_the_config_block(picture: Path, tmp_path: Path) -> None:
    drawn = tmp_path / "grid.png"
    known = f"{pixel(0, 30)} {pixel(7, 30)} 7.0"  # the road's width, 30 m out
    code, out = calibrate(
        str(picture), "--out", str(drawn), "--image-points", IMAGE, "--ground-points", GROUND,
        "--check", known,
    )  # fmt: skip
    assert code == 0, out
    assert "measured 7.00 m, error +0.0 % (ok)" in out
    assert "misread by 1 px moves it by up to" in out
    block = yaml.safe_load(out[out.index("calibration:") :])["calibration"]
    assert block["surveyed"] is True
    assert CalibrationConfig.model_validate(block).image_points[0] == (200.0, 560.0)
    assert cv2.imread(str(drawn)) is not None


def test_a_wrong_length_leaves_it_unsurveyed(picture: Path) -> None:
    code, out = calibrate(
        str(picture), "--image-points", IMAGE, "--ground-points", GROUND,
        "--check", f"{pixel(0, 10)} {pixel(0, 20)} 12",
    )  # fmt: skip
    assert code == 0
    assert "error -16.7 % (over 5.0 %)" in out
    assert "surveyed: false" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--image-points", "1,2 3", "--ground-points", GROUND], "--image-points: every point"),
        (["--image-points", "0,0 1,1 2,2 0,5", "--ground-points", GROUND], "three of the four"),
        (["--image-points", IMAGE], "give both"),
        (["--image-points", IMAGE, "--ground-points", GROUND, "--check", "1,1 2,2"], "--check"),
        (["--frame", "99"], "--frame"),
    ],
)
def test_bad_input_is_named(picture: Path, args: list[str], message: str) -> None:
    code, out = calibrate(str(picture), *args)
    assert code == 2 and message in out

"""Fixtures for pipeline tests: the shipped detector and short excerpts of real footage."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.config.camera import CameraSpec
from agent.detect.object_detector import ObjectDetector
from agent.pipeline.detector_setup import make_detector
from tests.support.media import VTEST

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples"


def excerpt(out: Path, first: int, count: int) -> Path:
    """Frames [first, first + count) of vtest.avi as a 10 fps MJPEG AVI (frame-exact)."""
    select = f"select='between(n\\,{first}\\,{first + count - 1})',setpts=N/FRAME_RATE/TB"
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-y",
        "-loglevel",
        "error",
        "-i",
        str(VTEST),
        "-vf",
        select,
        "-frames:v",
        str(count),
        "-c:v",
        "mjpeg",
        "-q:v",
        "2",
        "-an",
        str(out),
    ]
    subprocess.run(cmd, check=True, timeout=60)
    return out


@pytest.fixture(scope="session")
def detector() -> ObjectDetector:
    """The shipped default detector at the threshold the default tracker needs."""
    return make_detector([CameraSpec(id="any", source="x.avi")])


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frames 250-299 of vtest.avi (5 s): people crossing the labelled line."""
    return excerpt(tmp_path_factory.mktemp("clips") / "vtest-250.avi", 250, 50)

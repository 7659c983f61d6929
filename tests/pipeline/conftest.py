"""Fixtures for pipeline tests: the shipped detector and short excerpts of real footage."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.detect.detector import ObjectDetector
from agent.pipeline.config import CameraSpec
from agent.pipeline.detector import make_detector
from tests.fixtures.media import VTEST

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples"


def excerpt(out: Path, start_s: float, seconds: float) -> Path:
    """`seconds` of vtest.avi from `start_s`, stream-copied (the original compressed frames)."""
    cmd = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-ss", str(start_s), "-i",
           str(VTEST), "-t", str(seconds), "-c", "copy", "-an", str(out)]
    subprocess.run(cmd, check=True, timeout=60)
    return out


@pytest.fixture(scope="session")
def detector() -> ObjectDetector:
    """The shipped default detector at the threshold the default tracker needs."""
    return make_detector([CameraSpec(id="any", source="x.avi")])


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frames 250-299 of vtest.avi (5 s): people crossing the labelled line."""
    return excerpt(tmp_path_factory.mktemp("clips") / "vtest-25s.avi", 25.0, 5.0)

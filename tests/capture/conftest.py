"""Fixtures for capture tests: a real H.264 clip and a real RTSP server serving it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.media import RtspServer, make_clip


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("media") / "vtest.mp4")


@pytest.fixture
def rtsp_server(clip: Path) -> Iterator[RtspServer]:
    server = RtspServer(clip).start()
    try:
        yield server
    finally:
        server.stop()

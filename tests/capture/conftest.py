"""Fixtures for capture tests: a real H.264 clip and a real RTSP server serving it."""

from tests.fixtures.media import clip, rtsp_server  # noqa: F401  (pytest fixtures)

"""Fixtures: a real fleet server (TLS on loopback) per test, in this process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from fleet.server import FleetServer
from tests.fleet.helpers import api_channel, ca_pem, start_fleet


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Fleet:
    server: FleetServer
    data_dir: Path
    ca: bytes
    admin: str
    api: grpc.aio.Channel


@asynccontextmanager
async def running_fleet(data_dir: Path, **settings: object) -> AsyncIterator[Fleet]:
    """A fleet with non-default settings, for the tests that need one."""
    server = await start_fleet(data_dir, **settings)
    ca = ca_pem(data_dir)
    channel = api_channel(server.api_port, ca)
    try:
        yield Fleet(server, data_dir, ca, server.app.bootstrap_token, channel)
    finally:
        await channel.close()
        await server.stop(0.5)


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    async with running_fleet(tmp_path / "fleet") as running:
        yield running

"""Fixtures: a real fleet server (TLS on loopback) per test, in this process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from fleet.server import FleetServer
from fleet.store.base import Store
from fleet.store.select import open_store
from tests.fleet.helpers import api_channel, ca_pem, start_fleet, store_for

#: Store-level tests run against both stores: the same assertions on SQLite and PostgreSQL.
STORES = ("sqlite", "postgresql")


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


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Parametrizes a test over both stores (`store_for` gives the matching setting)."""
    return str(request.param)


@asynccontextmanager
async def opened_store(kind: str, data_dir: Path) -> AsyncIterator[Store]:
    """A fresh store of `kind` (SQLite in data_dir, or a new PostgreSQL database)."""
    store = await open_store(store_for(data_dir, kind), data_dir)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def any_store(store_kind: str, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh store, once per kind in STORES."""
    async with opened_store(store_kind, tmp_path / "store") as store:
        yield store

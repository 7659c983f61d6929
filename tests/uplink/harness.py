"""A real fleet in a thread and agents on one shared loop, for the uplink tests and bench.

The fleet as a process, its API client and the polling helpers are in `tests.support`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from tests.support.fleet import FleetHandle
from tests.support.net import free_port


class ThreadFleet:
    """`fleet.server.start_server` on its own event loop in a daemon thread."""

    def __init__(self, data_dir: Path, api_port: int = 0, agent_port: int = 0) -> None:
        from fleet.config import FleetSettings

        # Explicit ports: the fleet advertises its configured agent port at enrollment.
        api_port = api_port or free_port()
        agent_port = agent_port or free_port()
        self.settings = FleetSettings(
            data_dir=data_dir,
            listen=f"127.0.0.1:{api_port}",
            agent_listen=f"127.0.0.1:{agent_port}",
            metrics_listen="",
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: Any = None

    def _run(self, coro: Any, timeout: float = 30) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def start(self, admin_token: str = "") -> FleetHandle:
        from fleet.server import start_server

        self._server = self._run(start_server(self.settings))
        app = self._server.app
        return FleetHandle(
            api_port=self._server.api_port,
            agent_port=self._server.agent_port,
            ca_pem=app.ca.pem.encode(),
            admin_token=app.bootstrap_token or admin_token,
        )

    def stop(self) -> None:
        if self._server is not None:
            self._run(self._server.stop(0.5))
            self._server = None

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


class _SharedLoop:
    """One long-lived event loop thread for every agent a test process runs.

    grpc.aio binds its completion-queue poller to each loop that uses it and keeps calling
    into it; a loop closed while bound makes grpc log "Event loop is closed" errors. A real
    agent has exactly one loop for its lifetime, so tests share one too.
    """

    _loop: asyncio.AbstractEventLoop | None = None
    _lock = threading.Lock()

    @classmethod
    def get(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="agent-loop", daemon=True).start()
                cls._loop = loop
            return cls._loop


class AgentThread:
    """Runs a `BoxParts.uplink` client on the shared agent loop, so tests stay synchronous."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self._loop = _SharedLoop.get()
        self._stop: asyncio.Event | None = None
        self._future: Future[None] | None = None

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        await self.service.run(self._stop)

    def start(self) -> AgentThread:
        self._future = asyncio.run_coroutine_threadsafe(self._main(), self._loop)
        return self

    def stop(self) -> None:
        assert self._future is not None
        deadline = time.monotonic() + 10
        while self._stop is None and time.monotonic() < deadline and not self._future.done():
            time.sleep(0.01)
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._future.result(timeout=15)  # re-raises what the uplink raised

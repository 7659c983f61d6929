"""A real fleet for uplink tests: started in a thread or as a process, talked to over TLS.

`FleetHandle` wraps what the tests need from the fleet's public API (AdminService with the
bootstrap admin token, EventService.Query) - the same calls `okoctl` makes.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import grpc

from proto import transport
from proto.oko.v1 import admin_pb2, admin_pb2_grpc, stream_pb2, stream_pb2_grpc

T = TypeVar("T")


def free_port() -> int:
    """A loopback port nobody listens on right now (for servers restarted on the same port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], T | Literal[False, 0] | None],
    timeout: float,
    what: str,
    every: float = 0.1,
) -> T:
    """Poll `condition` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


@dataclass
class FleetHandle:
    """Addresses, trust anchor and admin token of a running fleet."""

    api_port: int
    agent_port: int
    ca_pem: bytes
    admin_token: str
    _channel: grpc.Channel | None = field(default=None, repr=False)

    @property
    def api(self) -> str:
        return f"127.0.0.1:{self.api_port}"

    def channel(self) -> grpc.Channel:
        if self._channel is None:
            creds = grpc.ssl_channel_credentials(root_certificates=self.ca_pem)
            self._channel = grpc.secure_channel(self.api, creds, options=transport.CLIENT_OPTIONS)
        return self._channel

    def _call(self, stub: Any, method: str, request: Any) -> Any:
        return getattr(stub, method)(
            request,
            metadata=transport.bearer_metadata(self.admin_token),
            timeout=transport.ADMIN_DEADLINE_S,
        )

    def admin(self, method: str, request: Any) -> Any:
        return self._call(admin_pb2_grpc.AdminServiceStub(self.channel()), method, request)

    def enrollment_token(self, site: str = "test-site") -> str:
        request = admin_pb2.CreateEnrollmentTokenRequest(site=site, ttl_seconds=3600)
        return str(self.admin("CreateEnrollmentToken", request).token)

    def events(self, camera_ids: tuple[str, ...] = ()) -> list[stream_pb2.EventEnvelope]:
        """Every stored event (matching cameras), in cursor order, all pages."""
        stub = stream_pb2_grpc.EventServiceStub(self.channel())
        out: list[stream_pb2.EventEnvelope] = []
        after = 0
        while True:
            request = stream_pb2.QueryRequest(
                filter=stream_pb2.EventFilter(camera_ids=list(camera_ids)),
                after_cursor=after,
                limit=1000,
            )
            page = self._call(stub, "Query", request)
            out.extend(page.events)
            if not page.next_cursor:
                return out
            after = page.next_cursor

    def device(self, device_id: str) -> admin_pb2.Device:
        return self.admin("GetDevice", admin_pb2.GetDeviceRequest(device_id=device_id))

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None


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
    """Runs an `UplinkService` on the shared agent loop, so tests stay synchronous."""

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

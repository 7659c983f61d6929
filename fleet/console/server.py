"""Serve the console over HTTPS inside the fleet process, on the fleet's own event loop.

uvicorn runs on the loop the gRPC server runs on, so pages read the same store, session
registry (to reach boxes for live views) and event fan-out as the API, with no second
process to keep in step. The socket is bound here, so a busy port is a FleetError naming
it (uvicorn would exit the process), and uvicorn's own signal handling is left out: the
fleet's SIGTERM handling stops everything in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn

from fleet.app import FleetApp
from fleet.console.context import Console
from fleet.console.web import build_asgi, make_console
from fleet.errors import FleetError
from fleet.watchlists.runtime import Watchlists

log = logging.getLogger(__name__)


class _Uvicorn(uvicorn.Server):
    """uvicorn without its signal handlers (the fleet has its own)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(address: str) -> socket.socket:
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
    except OSError as err:
        sock.close()
        raise FleetError(f"cannot serve the console on {address}: {err.strerror or err}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


@dataclass
class ConsoleServer:
    """The running console; `stop()` ends its streams and closes its port."""

    console: Console
    server: _Uvicorn
    sock: socket.socket
    task: asyncio.Task[None]
    stopped: bool = False

    @property
    def port(self) -> int:
        """The bound port (also when 0 was asked)."""
        return int(self.sock.getsockname()[1])

    async def stop(self) -> None:
        """End live views and streams, stop accepting, close connections (once)."""
        if self.stopped:
            return
        self.stopped = True
        self.console.closing.set()
        self.console.live.stop_all("the fleet is stopping")
        self.server.should_exit = True
        await asyncio.gather(self.task, return_exceptions=True)
        await self.server.shutdown(sockets=[self.sock])
        self.sock.close()
        await self.console.drain()


async def start_console(app: FleetApp, watchlists: Watchlists) -> ConsoleServer:
    """Bind `app.settings.console_listen` and serve the console with the fleet's certificate."""
    settings = app.settings
    key_path, chain_path = app.ca.server_credentials_files(
        settings.data_dir / "ca", list(settings.hostnames)
    )
    console = make_console(app, watchlists)
    config = uvicorn.Config(
        build_asgi(console),
        ssl_keyfile=str(key_path),
        ssl_certfile=str(chain_path),
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=True,
        timeout_graceful_shutdown=2,
        h11_max_incomplete_event_size=16 * 1024,
        limit_concurrency=2000,
    )
    config.load()
    sock = _bind(settings.console_listen)
    server = _Uvicorn(config)
    server.lifespan = config.lifespan_class(config)  # what uvicorn's serve() would set up
    try:
        await server.startup(sockets=[sock])
    except BaseException:
        sock.close()
        raise
    task = asyncio.get_running_loop().create_task(server.main_loop(), name="console")
    running = ConsoleServer(console, server, sock, task)
    log.info("console on https://%s:%s/", settings.console_listen.rpartition(":")[0], running.port)
    return running

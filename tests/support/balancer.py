"""A minimal L4 (TCP) load balancer on loopback, standing in for HAProxy `mode tcp`.

docs/scale.md puts one in front of the replicas: TLS ends at the replica, the balancer
only passes bytes. Each new connection goes to the next backend in turn that accepts a
TCP connect; a dead backend is skipped, so boxes whose replica died reconnect to another.
Runs its own event loop in a thread, so synchronous tests can use it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading

from tests.support.net import free_port


class TcpBalancer:
    """Round-robin over `backends` (ports on 127.0.0.1); `port` is where clients connect."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = free_port()
        self._turn = itertools.count()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.connections: dict[int, int] = {}  # backend -> connections sent there
        self._open: set[asyncio.StreamWriter] = set()
        self._cut = False

    def start(self) -> TcpBalancer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _backend(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self.backends)):
            port = self.backends[next(self._turn) % len(self.backends)]
            try:
                pair = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
            except (OSError, TimeoutError):
                continue
            self.connections[port] = self.connections.get(port, 0) + 1
            return pair
        return None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        backend = None if self._cut else await self._backend()
        if backend is None:
            writer.close()
            return
        up_reader, up_writer = backend
        self._open.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError, RuntimeError):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._open.difference_update((writer, up_writer))

    def cut(self) -> None:
        """A partition: every connection through here is closed, new ones are refused."""

        async def _cut() -> None:
            self._cut = True
            for writer in list(self._open):
                with contextlib.suppress(OSError, RuntimeError):
                    writer.close()

        asyncio.run_coroutine_threadsafe(_cut(), self._loop).result(10)

    def heal(self) -> None:
        """The partition ends: connections are passed again."""
        self._cut = False

    def close(self) -> None:
        async def _close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(_close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

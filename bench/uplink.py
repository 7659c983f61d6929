"""Uplink bandwidth: bytes on the wire per camera-hour, gzip vs no compression.

Run from the repository root: ``.venv/bin/python -m bench.uplink``. Starts a real fleet on
loopback, enrolls a box, and sends one synthetic camera-hour per camera through a TCP proxy
that counts the bytes the box puts on the wire (TLS records, HTTP/2 framing, gRPC headers,
heartbeats and all). The event mix per camera-hour is an assumption, printed with the
figures; edit MIX_PER_HOUR to match a site.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import threading
import time
from pathlib import Path

from agent.config.agent import AgentConfig
from agent.identity import AgentStore
from agent.pipeline.parts import BoxParts
from agent.uplink.enroll import enroll
from bench.machine import describe
from proto.oko.v1 import events_pb2
from tests.support.events import make_event
from tests.support.net import wait_until
from tests.uplink.harness import AgentThread, ThreadFleet

CAMERAS = 4
IDLE_S = 30.0
BATCH_SIZES = (1, 10, 100, 500)
# Events one busy street camera produces in an hour (assumed, not measured).
MIX_PER_HOUR = {
    "line_crossing": 900,
    "zone": 240,
    "traffic_flow": 60,
    "face": 120,  # 512-d float16 embedding each
    "wrong_way": 2,
    "abandoned_object": 1,
}


class CountingProxy:
    """TCP forwarder on 127.0.0.1 that counts bytes sent upstream (box -> fleet)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.up = 0
        self.down = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        async def start() -> None:
            server = await asyncio.start_server(self._client, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(
            self._pipe(reader, up_writer, "up"),
            self._pipe(up_reader, writer, "down"),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, way: str
    ) -> None:
        try:
            while data := await reader.read(65536):
                if way == "up":
                    self.up += len(data)
                else:
                    self.down += len(data)
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    def reset(self) -> None:
        self.up = self.down = 0


def camera_hour(camera: str, rng: random.Random) -> list[events_pb2.Event]:
    kinds = [kind for kind, count in MIX_PER_HOUR.items() for _ in range(count)]
    rng.shuffle(kinds)  # interleave kinds as they would occur
    # Distinct sequences give distinct capture times, track ids and face embeddings.
    offset = int(camera.rsplit("-", 1)[1]) * 100_000
    return [make_event(camera, offset + i, kind) for i, kind in enumerate(kinds, start=1)]


def send_hour(config: AgentConfig, proxy: CountingProxy) -> tuple[int, int]:
    """(event payload bytes, wire bytes up) for one camera-hour per camera."""
    parts = BoxParts.open(config)
    rng = random.Random(7)
    events = [e for cam in range(CAMERAS) for e in camera_hour(f"cam-{cam}", rng)]
    proxy.reset()
    thread = AgentThread(parts.uplink).start()
    try:
        for i in range(0, len(events), 200):
            parts.spool.append(events[i : i + 200])
        parts.uplink.notify()
        wait_until(lambda: parts.spool.depth() == 0, 300, "the drain", every=0.02)
    finally:
        thread.stop()
        parts.close()
    return sum(e.ByteSize() for e in events), proxy.up


def idle_bytes_per_hour(config: AgentConfig, proxy: CountingProxy, seconds: float) -> float:
    """Wire bytes of a connected, idle box (heartbeats, HTTP/2 pings), scaled to an hour."""
    parts = BoxParts.open(config)
    thread = AgentThread(parts.uplink).start()
    try:
        wait_until(parts.uplink.connected.is_set, 30, "the connection")
        time.sleep(1.0)  # let the handshake's first heartbeat pass
        proxy.reset()
        time.sleep(seconds)
        idle = proxy.up
    finally:
        thread.stop()
        parts.close()
    return idle * 3600 / seconds


def _config(data_dir: Path, proxy_port: int, compression: str, batch: int) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "data_dir": data_dir,
            "metrics": {"enabled": False},
            "fleet": {
                "agent": f"127.0.0.1:{proxy_port}",
                "compression": compression,
                "batch_max_events": batch,
                "batch_linger_s": 0.0,
            },
        }
    )


def main() -> None:
    print(f"machine: {describe()}")
    print(f"assumed events per camera-hour: {MIX_PER_HOUR}; {CAMERAS} cameras")
    print("a box sends batches of about (its event rate x fleet.batch_linger_s) events, so")
    print("the table gives wire bytes per camera-hour for several batch sizes:")
    with tempfile.TemporaryDirectory() as tmp:
        fleet_server = ThreadFleet(Path(tmp) / "fleet")
        fleet = fleet_server.start()
        data_dir = Path(tmp) / "agent"
        store = AgentStore(data_dir)
        enroll(store, fleet.api, fleet.enrollment_token(), device_name="bench-box")
        store.close()
        proxy = CountingProxy(fleet.agent_port)
        for batch in BATCH_SIZES:
            wire = {}
            for compression in ("none", "gzip"):
                config = _config(data_dir, proxy.port, compression, batch)
                payload, wire[compression] = send_hour(config, proxy)
            print(
                f"  batch {batch:4d} events: payload {payload / CAMERAS / 1024:6.1f} KiB, wire "
                f"{wire['none'] / CAMERAS / 1024:6.1f} KiB plain, "
                f"{wire['gzip'] / CAMERAS / 1024:6.1f} KiB gzip "
                f"(gzip {wire['none'] / wire['gzip']:.2f}x smaller; "
                f"{wire['gzip'] / CAMERAS * 8 / 3600:.0f} bit/s per camera)"
            )
        idle = idle_bytes_per_hour(_config(data_dir, proxy.port, "gzip", 500), proxy, IDLE_S)
        print(
            f"idle connected box (heartbeats every 10 s, keepalive pings), measured over "
            f"{IDLE_S:.0f} s: {idle / 1024:.1f} KiB per box-hour"
        )
        fleet.close()
        fleet_server.close()


if __name__ == "__main__":
    main()

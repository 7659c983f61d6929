"""A real `oko-fleet serve` process, its start-up banner, and a client for its public API.

`FleetCli` is the one way tests and benches start the fleet as a process; `read_banner` is the
one parser of what `oko-fleet serve` prints when it is up (see `fleet/cli.py`):

    First start. Admin token (shown once, stored only hashed):
      okoa.<id>.<secret>
    CA certificate for clients: <data dir>/ca/ca.pem
    console https://<host>:<port>/         (only with --console)
    serving api=<port> agent=<port>

`FleetHandle` wraps what tests need from the fleet's public API (AdminService with the
bootstrap admin token, EventService.Query) - the same calls `okoctl` makes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc

from proto import transport
from proto.oko.v1 import admin_pb2, admin_pb2_grpc, stream_pb2, stream_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
_SERVING = re.compile(r"^serving api=(\d+) agent=(\d+)$")
_CONSOLE = re.compile(r"^console https://\S+:(\d+)/$")


@dataclass(frozen=True)
class FleetBanner:
    """What a starting fleet announced: its bound ports and, on a first start, the token."""

    api_port: int
    agent_port: int
    admin_token: str  # "" when the data dir already held a fleet
    console_port: int = 0  # 0 when not started with --console


def read_banner(out: IO[str], timeout: float) -> FleetBanner:
    """Read `oko-fleet serve`'s output up to its `serving` line; fail quoting what it said."""
    deadline = time.monotonic() + timeout
    said: list[str] = []
    token = ""
    console = 0
    while time.monotonic() < deadline:
        line = out.readline()
        if not line:
            raise AssertionError("oko-fleet exited during start-up:\n" + "".join(said))
        said.append(line)
        text = line.strip()
        if text.startswith("okoa."):
            token = text
        elif found := _CONSOLE.match(text):
            console = int(found[1])
        elif serving := _SERVING.match(text):
            return FleetBanner(int(serving[1]), int(serving[2]), token, console)
    raise AssertionError(f"oko-fleet did not serve within {timeout:.0f} s:\n" + "".join(said))


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


class FleetCli:
    """`oko-fleet serve` on fixed ports, so boxes and subscribers find it after a restart."""

    def __init__(
        self, data_dir: Path, api_port: int, agent_port: int, extra: tuple[str, ...] = ()
    ) -> None:
        self.data_dir = data_dir
        self.args = [
            sys.executable,
            "-m",
            "fleet.cli",
            "serve",
            "--data-dir",
            str(data_dir),
            "--listen",
            f"127.0.0.1:{api_port}",
            "--agent-listen",
            f"127.0.0.1:{agent_port}",
            "--metrics-listen",
            "",
            *extra,  # e.g. ("--config", "fleet.yaml")
        ]
        self.api = f"localhost:{api_port}"
        self.api_port = api_port
        self.agent_port = agent_port
        self.admin_token = ""  # kept across restarts: only a first start prints one
        self.console_port = 0
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 30) -> FleetCli:
        """Start the process and wait for its banner."""
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "OKO_LOG_LEVEL": "WARNING",
        }
        self.proc = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # a failed start quotes the traceback
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        try:
            banner = read_banner(self.proc.stdout, timeout)
        except BaseException:
            # A fixture that fails here never reaches its teardown: a fleet still starting
            # would be left running, and loading the machine, for the rest of the session.
            self.kill()
            raise
        self.admin_token = banner.admin_token or self.admin_token
        self.console_port = banner.console_port
        # Keep draining, so warnings logged later can never fill the pipe and block the fleet.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    @property
    def ca(self) -> bytes:
        return (self.data_dir / "ca" / "ca.pem").read_bytes()

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "ca" / "ca.pem"

    def handle(self) -> FleetHandle:
        """A public-API client of this fleet, as its admin."""
        return FleetHandle(self.api_port, self.agent_port, self.ca, self.admin_token)

    def kill(self) -> None:
        """SIGKILL: no graceful anything, like a power cut of the server process."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

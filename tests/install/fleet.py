"""A real `oko-fleet serve` process on loopback, and `okoctl` against it, for the tests."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 60


@dataclass(frozen=True)
class Fleet:
    api: str
    ca_file: Path
    admin_token: str

    def ctl(self, *args: str) -> str:
        """Run okoctl against this fleet as the admin; its stdout."""
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "fleet.ctl",
                "--fleet",
                self.api,
                "--token",
                self.admin_token,
                "--ca-file",
                str(self.ca_file),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def boxes_at(fleet: Fleet, site: str) -> list[dict[str, object]]:
    return [d for d in json.loads(fleet.ctl("--json", "device", "list")) if d["site"] == site]


@contextlib.contextmanager
def running_fleet(data: Path, admin_token: str = "") -> Iterator[Fleet]:
    """`oko-fleet serve` on free loopback ports until the block ends."""
    api = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fleet.cli",
            "serve",
            "--data-dir",
            str(data),
            "--listen",
            api,
            "--agent-listen",
            f"127.0.0.1:{free_port()}",
            "--metrics-listen",
            "",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + START_TIMEOUT_S
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line or line.startswith("serving api="):
                lines.append(line)
                break
            if lines and "First start" in lines[-1]:
                admin_token = line.strip()
            lines.append(line)
        assert admin_token and lines[-1].startswith("serving"), "".join(lines)
        yield Fleet(api=api, ca_file=data / "ca" / "ca.pem", admin_token=admin_token)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

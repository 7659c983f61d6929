"""A real `oko-fleet serve` process on loopback, and `okoctl` against it, for the tests."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.fleet import FleetCli
from tests.support.net import free_port

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


def boxes_at(fleet: Fleet, site: str) -> list[dict[str, object]]:
    return [d for d in json.loads(fleet.ctl("--json", "device", "list")) if d["site"] == site]


@contextlib.contextmanager
def running_fleet(data: Path, admin_token: str = "") -> Iterator[Fleet]:
    """`oko-fleet serve` on free loopback ports until the block ends."""
    server = FleetCli(data, free_port(), free_port()).start(timeout=START_TIMEOUT_S)
    try:
        token = server.admin_token or admin_token
        assert token, f"{data} already held a fleet and no admin token was given"
        yield Fleet(api=f"127.0.0.1:{server.api_port}", ca_file=server.ca_file, admin_token=token)
    finally:
        server.stop()

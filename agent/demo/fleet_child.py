"""Run `oko-fleet serve` as a child process and learn its ports and first admin token."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from agent.errors import OkoError

log = logging.getLogger(__name__)


@dataclass
class FleetChild:
    """A fleet server in its own process group, so stopping it leaves nothing behind."""

    data_dir: Path
    process: subprocess.Popen[str] | None = None
    api_address: str = ""
    agent_address: str = ""
    admin_token: str = ""

    @property
    def ca_file(self) -> Path:
        """The CA the server creates on first start; clients pin it to trust the server."""
        return self.data_dir / "ca" / "ca.pem"

    @property
    def log_file(self) -> Path:
        """The server's stdout and stderr, to read when it fails to start."""
        return self.data_dir / "fleet.log"

    def start(self, timeout_s: float = 60.0) -> FleetChild:
        """Start the server on loopback ports chosen by the OS; wait until it serves."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "fleet.cli",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--listen",
            "127.0.0.1:0",
            "--agent-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "",
        ]
        with self.log_file.open("ab") as err:
            self.process = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
                env={**os.environ, "OKO_LOG_LEVEL": "INFO"},
            )
        assert self.process.stdout is not None
        self._read_banner(self.process.stdout, time.monotonic() + timeout_s)
        return self

    def _read_banner(self, out: IO[str], deadline: float) -> None:
        expect_token = False
        while time.monotonic() < deadline:
            line = out.readline()
            if not line:
                raise OkoError(f"fleet server exited during start-up; see {self.log_file}")
            text = line.strip()
            if text.startswith("First start. Admin token"):
                expect_token = True
            elif expect_token and not self.admin_token:
                self.admin_token = text
            elif text.startswith("serving api="):
                ports = dict(part.split("=", 1) for part in text.split()[1:])
                self.api_address = f"127.0.0.1:{ports['api']}"
                self.agent_address = f"127.0.0.1:{ports['agent']}"
                log.info("fleet serving api=%s agent=%s", self.api_address, self.agent_address)
                if not self.admin_token:
                    raise OkoError(f"{self.data_dir} already holds a fleet; use a new --data-dir")
                return
        raise OkoError(f"fleet server did not start within the timeout; see {self.log_file}")

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM the process group, SIGKILL after the grace period; the exit code."""
        proc = self.process
        if proc is None:
            return None
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                log.warning("fleet did not stop in %.0f s; killing it", grace_s)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        self.process = None
        return proc.returncode

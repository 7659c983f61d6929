"""A real agent process for the fault tests, with bounded waits and clean-up.

The fleet process is `tests.support.fleet.FleetCli`, the real `oko-fleet serve`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import yaml

from agent.identity import AgentStore
from agent.uplink.enroll import enroll
from proto.oko.v1 import admin_pb2
from tests.support.fleet import FleetHandle
from tests.support.net import wait_until

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _spawn(args: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


class _Lines:
    """Collects a process's stdout (or stderr) lines in a thread: waits never block on a pipe."""

    def __init__(self, proc: subprocess.Popen[str], stderr: bool = False) -> None:
        self.lines: list[str] = []
        pipe = proc.stderr if stderr else proc.stdout
        assert pipe is not None
        self._thread = threading.Thread(target=self._pump, args=(pipe,), daemon=True)
        self._thread.start()

    def _pump(self, pipe: Any) -> None:
        for line in pipe:
            self.lines.append(line.rstrip("\n"))

    def starting(self, prefix: str) -> list[str]:
        return [line for line in list(self.lines) if line.startswith(prefix)]

    def join(self) -> None:
        self._thread.join(timeout=10)


def _end(proc: subprocess.Popen[str], sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class AgentProcess:
    """`agent_proc.py`: the real uplink plus a synthetic event source, in its own process."""

    def __init__(self, config: dict[str, Any], path: Path) -> None:
        path.write_text(yaml.safe_dump(config))
        self.config_path = path
        self.proc: subprocess.Popen[str] | None = None
        self.lines: _Lines | None = None
        self.errors: _Lines | None = None  # stderr: the agent's log (WARNING and above)
        self.metrics_url = ""

    def start(self, events: int = 0, per_append: int = 10, interval: float = 0.05) -> None:
        self.proc = _spawn(
            [
                str(HERE / "agent_proc.py"),
                str(self.config_path),
                "--events",
                str(events),
                "--per-append",
                str(per_append),
                "--interval",
                str(interval),
            ]
        )
        self.lines = _Lines(self.proc)
        self.errors = _Lines(self.proc, stderr=True)
        port = wait_until(lambda: self.alive() and self._line("metrics "), 30, "agent start")[0]
        self.metrics_url = f"http://127.0.0.1:{port.split()[1]}/metrics"

    def alive(self) -> bool:
        """True while running; an unexpected exit fails the test with the agent's stderr."""
        if self.proc is not None and self.proc.poll() is not None:
            assert self.errors is not None
            self.errors.join()
            raise AssertionError("agent exited: " + "\n".join(self.errors.lines)[-2000:])
        return True

    def logged(self, text: str) -> list[str]:
        """Lines of the agent's stderr log that contain `text`."""
        return [line for line in list(self.errors.lines if self.errors else ()) if text in line]

    def _line(self, prefix: str) -> list[str]:
        return self.lines.starting(prefix) if self.lines else []

    def spooled(self) -> list[tuple[int, str]]:
        """(total, last event id) of every append the agent reported committed."""
        rows = (line.split() for line in self._line("spooled "))
        return [(int(n), event_id) for _, n, event_id in rows]

    def produced(self) -> bool:
        return bool(self._line("produced "))

    def metric(self, name: str, labels: str = "") -> float:
        """One sample from the agent's /metrics (0 when absent)."""
        wanted = f"{name}{{{labels}}}" if labels else name
        for line in httpx.get(self.metrics_url, timeout=5).text.splitlines():
            if line.startswith(wanted + " "):
                return float(line.split()[-1])
        return 0.0

    def kill(self) -> None:
        if self.proc is not None:
            _end(self.proc, signal.SIGKILL)
            assert self.lines is not None and self.errors is not None
            self.lines.join()
            self.errors.join()

    def stop(self) -> None:
        if self.proc is not None:
            _end(self.proc, signal.SIGTERM)


def enrolled_agent(handle: FleetHandle, tmp_path: Path, index: int) -> AgentProcess:
    """Box `index` enrolled at the fleet behind `handle` (site "fault-site"), not started.

    Reconnects and batches fast, so that fault tests see many small acknowledged batches
    around every kill and restart. Closes `handle`.
    """
    data_dir = tmp_path / f"agent-{index}"
    store = AgentStore(data_dir)
    token = handle.admin(
        "CreateEnrollmentToken",
        admin_pb2.CreateEnrollmentTokenRequest(site="fault-site", ttl_seconds=600),
    ).token
    enroll(store, handle.api, token, device_name=f"box-{index}")
    store.close()
    handle.close()
    config = {
        "data_dir": str(data_dir),
        "metrics": {"port": 0},
        "fleet": {
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
            "batch_linger_s": 0.05,
            "batch_max_events": 100,
        },
    }
    return AgentProcess(config, tmp_path / f"agent-{index}.yaml")

"""Real `oko-agent run` boxes on a long file camera, enrolled with a real fleet process.

`BoxProcess` is the agent exactly as systemd runs it (`python -m agent.cli run --config`),
with its metrics/health endpoint read from its start-up line; tests SIGKILL it to cut
power and start it again on the same data directory.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from agent.identity import AgentStore
from agent.models_update.inventory import STATE_FILE
from agent.uplink.enroll import enroll
from tests.support.fleet import FleetHandle

REPO = Path(__file__).resolve().parents[2]
EVERYWHERE = {"id": "all", "polygon": [[0, 0], [768, 0], [768, 576], [0, 576]]}
LINE = {"id": "road", "points": [[330, 400], [330, 190]]}


def enrolled_box(fleet: FleetHandle, root: Path, clip: Path, **models: object) -> Path:
    """Enroll a data dir and write its agent.yaml (one realtime camera); returns the yaml."""
    data_dir = root / "data"
    store = AgentStore(data_dir)
    try:
        enroll(store, fleet.api, fleet.enrollment_token(), device_name=root.name)
    finally:
        store.close()
    doc = {
        "data_dir": str(data_dir),
        "metrics": {"host": "127.0.0.1", "port": 0},
        "fleet": {"reconnect_min_s": 0.1, "reconnect_max_s": 1.0, "batch_linger_s": 0.05},
        "inference": {"measure": False},
        "models": dict(models),
        "cameras": [
            {
                "id": "gate",
                "source": str(clip),
                "realtime": True,
                "detect_fps": 5,
                "lines": [LINE],
                "zones": [EVERYWHERE],
            }
        ],
    }
    path = root / "agent.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


class BoxProcess:
    """`oko-agent run` in a subprocess; its stderr (the log) goes to a file for failures."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.data_dir = Path(yaml.safe_load(config.read_text())["data_dir"])
        self.log = config.with_suffix(".log")
        self.proc: subprocess.Popen[str] | None = None
        self.base = ""

    def start(self, timeout: float = 120) -> BoxProcess:
        env = {**os.environ, "PYTHONPATH": str(REPO), "OKO_LOG_LEVEL": "INFO"}
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agent.cli", "run", "--config", str(self.config)],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
            )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        assert line.startswith("running 1 camera(s); uplink on"), (line, self.log_text())
        self.base = line.rsplit("http://", 1)[1].split("/metrics")[0]
        return self

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://{self.base}/healthz", timeout=5) as resp:
            return dict(json.loads(resp.read()))

    def metric(self, name: str) -> float:
        """A sample of the box's /metrics (0 when absent)."""
        with urllib.request.urlopen(f"http://{self.base}/metrics", timeout=5) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    return float(line.rsplit(" ", 1)[1])
        return 0.0

    def state(self) -> dict[str, Any]:
        """The persisted model choice (`<data_dir>/models/state.json`)."""
        path = self.data_dir / "models" / STATE_FILE
        return dict(json.loads(path.read_text())) if path.exists() else {}

    def kill(self) -> None:
        """SIGKILL: a power cut, nothing flushed or closed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

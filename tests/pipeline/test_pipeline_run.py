"""`oko-agent run` as a real process: two file cameras, one dead RTSP camera, SIGTERM.

The files are read with `realtime: false` (every decimated frame analysed), the dead camera
keeps backing off; the box must spool every event, write the JSONL sink (it is not
enrolled), serve /metrics and /healthz, stop cleanly on SIGTERM, and a restarted box must
continue each camera's sequence numbers.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.pipeline.sinks import read_jsonl
from agent.spool import Spool
from proto.oko.v1 import events_pb2
from tests.pipeline.conftest import EXAMPLES, REPO, excerpt
from tests.support.net import free_port

FILES = {"file-a": 250, "file-b": 650}  # first frames of 5 s excerpts with walkers
LINE = {"id": "road", "points": [[330, 400], [330, 190]]}
ZONE = {"id": "junction", "polygon": [[440, 230], [690, 200], [768, 290], [768, 440], [520, 330]]}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("box")
    cameras: list[dict[str, Any]] = [
        {
            "id": cam,
            "source": str(excerpt(root / f"{cam}.avi", first, 50)),
            "realtime": False,
            "lines": [LINE],
            "zones": [ZONE],
        }
        for cam, first in FILES.items()
    ]
    cameras.append(
        {
            "id": "dead",
            "source": f"rtsp://127.0.0.1:{free_port()}/cam",
            "open_timeout_s": 1,
            "stall_timeout_s": 2,
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 1,
        }
    )
    doc = {
        "data_dir": str(root / "data"),
        "metrics": {"host": "127.0.0.1", "port": 0},
        "spool": {"synchronous": "NORMAL"},
        # Backend measurement at first start is tested in tests/inference; here it would
        # only add ~20 s of timing before the cameras start.
        "inference": {"measure": False},
        "cameras": cameras,
    }
    path = root / "agent.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


class Agent:
    """`python -m agent.cli run` in a subprocess; killed if a test leaves it running."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "--config", str(config)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "OKO_LOG_LEVEL": "WARNING"},
        )
        line = self._line(90)
        assert line.startswith("running 3 camera(s); uplink off"), line
        self.base = line.rsplit("http://", 1)[1].split("/metrics")[0]

    def _line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline() if ready else ""

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://{self.base}{path}", timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def health(self) -> dict[str, Any]:
        return json.loads(self.get("/healthz")[1])

    def wait_files_done(self, timeout: float = 120) -> dict[str, Any]:
        """Until both files are read and every decimated frame (25 of 50) analysed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = self.health()
            if all(
                health["cameras"][c]["state"] == "ended" and health["cameras"][c]["frames"] == 25
                for c in FILES
            ):
                return health
            time.sleep(0.5)
        raise AssertionError(f"file cameras did not finish: {self.health()}")

    def terminate(self, timeout: float = 30) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def agent(config: Path) -> Iterator[Any]:
    started: list[Agent] = []

    def start() -> Agent:
        started.append(Agent(config))
        return started[-1]

    yield start
    for a in started:
        a.kill()


def spooled(data_dir: Path) -> dict[str, list[events_pb2.Event]]:
    with Spool(data_dir / "spool.db") as spool:
        rows = spool.peek_batch(max_events=100_000, max_bytes=1 << 30)
    out: dict[str, list[events_pb2.Event]] = defaultdict(list)
    for row in rows:
        out[row.camera_id].append(events_pb2.Event.FromString(row.payload))
    return out


def test_run_spools_events_serves_health_and_stops_on_sigterm(agent: Any, config: Path) -> None:
    data_dir = Path(yaml.safe_load(config.read_text())["data_dir"])
    box = agent()
    health = box.wait_files_done()
    assert health["status"] == "degraded"  # files ended, one camera dead
    assert health["inference"]["alive"] and health["uplink"] == {
        "enabled": False,
        "connected": False,
    }
    for cam in FILES:
        assert health["cameras"][cam]["skipped_inference"] == 0
    dead = health["cameras"]["dead"]
    assert dead["state"] in ("backoff", "connecting") and dead["frames"] == 0
    assert dead["error"] and "127.0.0.1" in dead["error"]
    code, metrics = box.get("/metrics")
    assert code == 200
    assert 'oko_agent_camera_frames_processed_total{camera="file-a"} 25.0' in metrics
    assert 'oko_agent_camera_up{camera="dead"} 0.0' in metrics
    assert "oko_agent_inference_seconds_count" in metrics
    assert "oko_agent_spool_depth_events" in metrics
    assert box.get("/nowhere")[0] == 404

    code, out = box.terminate()
    assert code == 0 and out.strip().endswith("stopped"), out

    events = spooled(data_dir)
    assert set(events) == set(FILES), "the dead camera has nothing to report"
    for cam, evs in events.items():
        assert [e.sequence for e in evs] == list(range(1, len(evs) + 1)), cam
        assert any(e.WhichOneof("body") == "line_crossing" for e in evs), cam
        assert any(e.WhichOneof("body") == "zone" for e in evs), cam
    # Not enrolled: the JSONL sink has exactly what the spool has.
    sink = read_jsonl(data_dir / "events.jsonl")
    assert sorted(e.event_id for e in sink) == sorted(
        e.event_id for evs in events.values() for e in evs
    )


def test_a_restarted_box_continues_sequence_numbers(agent: Any, config: Path) -> None:
    data_dir = Path(yaml.safe_load(config.read_text())["data_dir"])
    if not (data_dir / "spool.db").exists():  # run alone: make a first run here
        first = agent()
        first.wait_files_done()
        assert first.terminate()[0] == 0
    before = {cam: len(evs) for cam, evs in spooled(data_dir).items()}
    assert before
    box = agent()
    box.wait_files_done()
    assert box.terminate()[0] == 0
    for cam, evs in spooled(data_dir).items():
        assert [e.sequence for e in evs] == list(range(1, len(evs) + 1)), cam
        assert len(evs) > before[cam], "the same file is analysed again"


def test_bad_box_config_names_the_field(tmp_path: Path) -> None:
    doc = yaml.safe_load((EXAMPLES / "agent.yaml").read_text())
    doc["cameras"][1]["lines"][0]["points"] = [[0, 0]]
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", "--config", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"error: {path}: " in result.stderr and "cameras[1].lines[0].points" in result.stderr


def test_rule_class_unknown_to_the_detector_names_camera_and_field(tmp_path: Path) -> None:
    doc = yaml.safe_load((EXAMPLES / "agent.yaml").read_text())
    doc["data_dir"] = str(tmp_path / "data")
    doc["cameras"][0]["zones"][0]["classes"] = ["persn"]
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", "--config", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"error: {path}: camera gate-north: zones[entrance].classes: 'persn'"
    ), result.stderr

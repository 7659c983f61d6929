"""`oko-agent run` as a real process: two file cameras, one dead RTSP camera, SIGTERM.

The files are read with `realtime: false` (every decimated frame analysed), the dead camera
keeps backing off; the box must spool every event, write the JSONL sink (it is not
enrolled), serve /metrics and /healthz, stop cleanly on SIGTERM, and a restarted box must
continue each camera's sequence numbers.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
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
from tests.support.fleet import FleetHandle
from tests.support.net import free_port
from tests.uplink.conftest import enrolled, fleet  # noqa: F401  (pytest fixtures)

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
    assert health["inference"]["alive"]
    uplink = health["uplink"]
    assert uplink["state"] == "off" and not uplink["enabled"] and not uplink["connected"]
    assert uplink["reason"] == "agent.yaml has no fleet section"
    assert any("dead" in p for p in health["problems"]), health["problems"]
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


def _run_cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "OKO_LOG_LEVEL": "WARNING"},
    )


def _fleet_config(tmp_path: Path, data_dir: Path, fleet_api: str) -> Path:
    doc = {
        "data_dir": str(data_dir),
        "metrics": {"port": 0},
        "fleet": {"api": fleet_api, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
        "cameras": [],
    }
    path = tmp_path / "fleet-agent.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_unenrolled_box_naming_a_fleet_says_why_and_require_uplink_refuses(
    tmp_path: Path,
) -> None:
    config = _fleet_config(tmp_path, tmp_path / "data", f"127.0.0.1:{free_port()}")
    refused = _run_cli("--config", str(config), "--require-uplink")
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == (
        f"error: {config}: uplink off: this box is not enrolled (run `oko-agent enroll`) "
        "(--require-uplink)"
    )
    assert "Traceback" not in refused.stderr


def test_an_uplink_that_dies_makes_run_exit_non_zero(
    fleet: FleetHandle,  # noqa: F811
    enrolled: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    agent_config = enrolled()
    key = agent_config.data_dir / "identity" / "device.key"
    key.chmod(0o644)  # the uplink refuses to present a key others can read: unrecoverable
    config = _fleet_config(tmp_path, agent_config.data_dir, fleet.api)
    result = _run_cli("--config", str(config), "--require-uplink")
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: uplink stopped: IdentityError: ") and "chmod 600" in last, last
    assert "Traceback" not in result.stderr


def _request(base: str, path: str, method: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://{base}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_live_metrics_pass_promtool_and_head_is_answered(agent: Any) -> None:
    box = agent()
    box.wait_files_done()
    code, metrics = box.get("/metrics")
    assert code == 200 and "oko_agent_camera_frames_processed_total" in metrics
    checked = subprocess.run(
        ["promtool", "check", "metrics"],
        input=metrics,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for path, status in (("/metrics", 200), ("/healthz", 200), ("/nowhere", 404)):
        head = _request(box.base, path, "HEAD")
        get = _request(box.base, path, "GET")
        assert head[0] == get[0] == status, path
        assert head[2] == b"" and int(head[1]["Content-Length"]) > 0, path
        assert head[1]["Content-Type"] == get[1]["Content-Type"], path
    assert box.terminate()[0] == 0


def test_run_logs_camera_endings_at_the_default_level(config: Path, tmp_path: Path) -> None:
    """Without OKO_LOG_LEVEL, a service's journal shows a camera ending and its state."""
    env = {k: v for k, v in os.environ.items() if k != "OKO_LOG_LEVEL"}
    log_file = tmp_path / "stderr.log"
    with log_file.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "--config", str(config)],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
            env=env,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and log_file.read_text().count("-> ended") < 2:
                time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    text = log_file.read_text()
    for cam in FILES:
        assert re.search(rf"INFO agent\.capture\.reader: camera {cam}: .* -> ended", text), text
    assert "INFO agent.pipeline.box: box running: 3 camera(s)" in text, text

"""A real fleet with its console, a real box on a file camera, and Debian's Chromium.

`stack` starts `oko-fleet serve --console` and `oko-agent run` as processes (the box
enrolled at a site whose name holds markup, its camera a looped real clip with a line and a
zone), and mints one API token per person: two operators, a viewer. `browser` is one
headless Chromium (the system's, driven by Playwright: no browser download) for the module.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import select
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from agent.identity import AgentStore
from agent.uplink.enroll import enroll
from proto.oko.v1 import admin_pb2
from tests.support.fleet import ROOT, FleetCli, FleetHandle
from tests.support.media import VTEST
from tests.support.net import free_port, wait_until

T = TypeVar("T")
SITE = 'north <b>gate</b> & "co"'  # markup in a site name: every page must show it as text
CAMERA = "gate"
LINE = {"id": "road", "points": [[330, 400], [330, 190]]}
ZONE = {"id": "junction", "polygon": [[440, 230], [690, 200], [768, 290], [768, 440], [520, 330]]}
#: Where the screenshots for docs/console.md go when asked (OKO_CONSOLE_SHOTS=1).
SHOTS = ROOT / "docs" / "console"


def in_thread(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on its own loop in a thread.

    Playwright's sync API keeps an event loop running in this thread, so asyncio.run here
    would refuse.
    """
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result(timeout=120)


def looped_clip(out: Path) -> Path:
    """vtest.avi three times over (stream copy: instant), four minutes of real footage."""
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-y",
        "-loglevel",
        "error",
        "-stream_loop",
        "2",
        "-i",
        str(VTEST),
        "-c",
        "copy",
        str(out),
    ]
    subprocess.run(cmd, check=True, timeout=60)
    return out


class Agent:
    """`oko-agent run` in a subprocess."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "--config", str(config)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "OKO_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)},
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 120)
        line = self.proc.stdout.readline() if ready else ""
        assert line.startswith("running 1 camera(s); uplink on"), line
        self.metrics_url = re.findall(r"http://\S+/metrics", line)[0]

    def metric(self, name: str) -> float:
        """A sample of the box's own /metrics (0 when absent)."""
        with urllib.request.urlopen(self.metrics_url, timeout=5) as reply:
            text = reply.read().decode()
        for row in text.splitlines():
            if row.startswith(name + " ") or row.startswith(name + "{"):
                return float(row.rsplit(" ", 1)[1])
        return 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@dataclass
class Stack:
    fleet: FleetCli
    handle: FleetHandle
    url: str
    tokens: dict[str, str]
    device_id: str
    agent: Agent
    root: Path

    def token(self, name: str, role: int, ttl_seconds: int = 0) -> str:
        request = admin_pb2.CreateApiTokenRequest(name=name, role=role, ttl_seconds=ttl_seconds)  # type: ignore[arg-type]
        return str(self.handle.admin("CreateApiToken", request).token)


def _settings(root: Path) -> Path:
    path = root / "fleet.yaml"
    # A short live-view lease, so "stops when the page closes" is seen within seconds.
    path.write_text(yaml.safe_dump({"console": {"live_lease_s": 3, "live_fps": 4}}))
    return path


def _agent_config(root: Path, api: str) -> Path:
    doc = {
        "data_dir": str(root / "agent"),
        "fleet": {
            "api": api,
            "batch_linger_s": 0.2,
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 2,
        },
        "metrics": {"host": "127.0.0.1", "port": 0},
        "spool": {"synchronous": "NORMAL"},
        "inference": {"measure": False},
        "cameras": [
            {
                "id": CAMERA,
                "source": str(looped_clip(root / "gate.avi")),
                "realtime": True,
                "detect_fps": 3,
                "lines": [LINE],
                "zones": [ZONE],
            }
        ],
    }
    path = root / "agent.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("console")
    console_port = free_port()
    fleet = FleetCli(
        root / "fleet",
        free_port(),
        free_port(),
        extra=("--console", f"127.0.0.1:{console_port}", "--config", str(_settings(root))),
    ).start()
    handle = fleet.handle()
    agent: Agent | None = None
    try:
        assert fleet.console_port == console_port
        stack = Stack(fleet, handle, f"https://127.0.0.1:{console_port}", {}, "", None, root)  # type: ignore[arg-type]
        stack.tokens = {
            "alice": stack.token("alice", admin_pb2.ROLE_OPERATOR),
            "bob": stack.token("bob", admin_pb2.ROLE_OPERATOR),
            "victor": stack.token("victor", admin_pb2.ROLE_VIEWER),
            "admin": fleet.admin_token,
        }
        store = AgentStore(root / "agent")
        identity = enroll(store, fleet.api, handle.enrollment_token(SITE), device_name="gate-box")
        store.close()
        stack.device_id = identity.device_id
        agent = stack.agent = Agent(_agent_config(root, fleet.api))
        wait_until(
            lambda: any(c.online for c in handle.device(identity.device_id).cameras),
            120,
            "the box to report its camera online",
        )
        yield stack
    finally:
        if agent is not None:
            agent.stop()
        handle.close()
        fleet.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is missing: run scripts/install-system-deps.sh"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser: Any, stack: Stack) -> Iterator[Callable[[], Any]]:
    """Fresh browser contexts (own cookies): one per person in a test."""
    contexts: list[Any] = []

    def make() -> Any:
        # The fleet's CA is not the system's: trust is checked separately (test_tls).
        context = browser.new_context(
            ignore_https_errors=True, viewport={"width": 1200, "height": 720}
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def shoot(page: Any, name: str, photo: bool = False) -> None:
    """The page as a PNG for docs/console.md, when OKO_CONSOLE_SHOTS=1 asks for them.

    A page showing camera pictures (`photo`) is posterized to 16 levels per channel, which
    keeps its PNG near 100 KB instead of 350.
    """
    if os.environ.get("OKO_CONSOLE_SHOTS") != "1":
        return
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    if photo:
        import cv2

        img = cv2.imread(str(path))
        assert img is not None
        cv2.imwrite(str(path), (img // 16) * 16 + 8, [cv2.IMWRITE_PNG_COMPRESSION, 9])

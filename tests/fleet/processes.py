"""The real `oko-fleet serve` as a process, and a resuming Subscribe client in a thread."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc

from proto.oko.v1 import stream_pb2, stream_pb2_grpc
from proto.transport import CLIENT_OPTIONS, bearer_metadata

ROOT = Path(__file__).resolve().parents[2]
_SERVING = re.compile(r"^serving api=(\d+) agent=(\d+)$")


class FleetCli:
    """`oko-fleet serve` on fixed ports, so boxes and subscribers find it after a restart."""

    def __init__(self, data_dir: Path, api_port: int, agent_port: int) -> None:
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
        ]
        self.api = f"localhost:{api_port}"
        self.agent_port = agent_port
        self.admin_token = ""
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 30) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "OKO_LOG_LEVEL": "WARNING",
        }
        self.proc = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=ROOT,
        )
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().strip()
            if line.startswith("okoa."):
                self.admin_token = line
            if _SERVING.match(line):
                threading.Thread(target=self.proc.stdout.read, daemon=True).start()
                return
            if not line and self.proc.poll() is not None:
                raise AssertionError(f"oko-fleet exited with {self.proc.returncode}")
        raise AssertionError("oko-fleet did not start serving in time")

    @property
    def ca(self) -> bytes:
        return (self.data_dir / "ca" / "ca.pem").read_bytes()

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


class ResumingSubscriber:
    """An integration client done right: remembers the last cursor it processed and
    resubscribes from it after any failure (the fleet being killed, say)."""

    def __init__(self, address: str, ca: bytes, token: str) -> None:
        self.address, self.ca, self.token = address, ca, token
        self.received: list[stream_pb2.EventEnvelope] = []
        self.reconnects = 0
        self._stop = threading.Event()
        self._call: grpc.Call | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ResumingSubscriber:
        self._thread.start()
        return self

    def _run(self) -> None:
        creds = grpc.ssl_channel_credentials(root_certificates=self.ca)
        while not self._stop.is_set():
            cursor = self.received[-1].cursor if self.received else 0
            with grpc.secure_channel(self.address, creds, options=CLIENT_OPTIONS) as channel:
                stub = stream_pb2_grpc.EventServiceStub(channel)
                call = stub.Subscribe(
                    stream_pb2.SubscribeRequest(resume_cursor=cursor),
                    metadata=bearer_metadata(self.token),
                )
                self._call = call
                try:
                    for envelope in call:
                        self.received.append(envelope)
                except grpc.RpcError:
                    self.reconnects += 1
                    time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()
        if self._call is not None:
            self._call.cancel()
        self._thread.join(timeout=10)

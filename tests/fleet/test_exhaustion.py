"""Unauthenticated resource exhaustion, with real sockets (issue 9, defect 11): corrupt
requests get INVALID_ARGUMENT and a counter instead of a traceback; idle sockets that never
handshake cannot lock a descriptor-limited fleet out for good."""

from __future__ import annotations

import logging
import os
import resource
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from proto.oko.v1 import admin_pb2, admin_pb2_grpc
from proto.transport import CLIENT_OPTIONS, bearer_metadata
from tests.fleet.conftest import Fleet
from tests.fleet.helpers import AgentStream, new_device
from tests.support.fleet import ROOT, read_banner
from tests.support.net import free_port

CORRUPT = b"\xff\xff"  # a field key with a truncated varint: no message parses from it
RAW = {"request_serializer": bytes, "response_deserializer": bytes}


async def _raw_unary(fleet: Fleet, method: str) -> grpc.aio.AioRpcError:
    call = fleet.api.unary_unary(method, **RAW)
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call(CORRUPT, timeout=10)
    return failed.value


@pytest.mark.anyio
async def test_corrupt_requests_are_invalid_argument_counted_and_not_tracebacks(
    fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    methods = {
        "/oko.v1.AdminService/GetStatus": "oko.v1.GetStatusRequest",
        "/oko.v1.EventService/Query": "oko.v1.QueryRequest",
        "/oko.v1.AgentService/Enroll": "oko.v1.EnrollRequest",
    }
    for _ in range(20):
        for method, message in methods.items():
            err = await _raw_unary(fleet, method)
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert message in (err.details() or "")
    stream = fleet.api.unary_stream("/oko.v1.EventService/Subscribe", **RAW)
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        async for _ in stream(CORRUPT, metadata=bearer_metadata(fleet.admin)):
            pass
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # A box's stream: a corrupt message after Hello ends it with INVALID_ARGUMENT too.
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    async with ident.channel(fleet.server.agent_port) as channel:
        box = AgentStream(channel)
        await box.next("welcome")
        connect = channel.stream_stream("/oko.v1.AgentService/Connect", **RAW)
        hello = b"\x0a\x02\x0a\x00"  # AgentMessage{hello: Hello{agent_version: ""}}
        raw = connect(iter([hello, CORRUPT]))
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            async for _ in raw:
                pass
        assert ended.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        box.close()

    registry = fleet.server.app.metrics.registry
    for method in methods:
        assert (
            registry.get_sample_value("oko_fleet_requests_malformed_total", {"method": method})
            == 20
        )
    assert "Traceback" not in caplog.text
    warnings = [r for r in caplog.records if r.name == "fleet.decode_guard"]
    assert len(warnings) == len(methods) + 2  # once per method, not once per request
    # The fleet still serves well-formed calls.
    status = await admin_pb2_grpc.AdminServiceStub(fleet.api).GetStatus(
        admin_pb2.GetStatusRequest(), metadata=bearer_metadata(fleet.admin), timeout=10
    )
    assert status.devices == 1


# -- a fleet with few descriptors, and sockets that never say a word ------------------------
def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))  # soft and hard: it cannot raise it


@pytest.fixture
def small_fleet(tmp_path: Path) -> Iterator[tuple[str, bytes, str, subprocess.Popen[str]]]:
    api_port = free_port()
    config = tmp_path / "fleet.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        f"listen: 127.0.0.1:{api_port}\n"
        f"agent_listen: 127.0.0.1:{free_port()}\n"
        'metrics_listen: ""\n'
        "handshake_timeout_s: 2\n"
        "max_connections: 64\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet.cli", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OKO_LOG_LEVEL": "WARNING"},
        cwd=ROOT,
        preexec_fn=_limit_descriptors,  # noqa: PLW1509 (setrlimit only, before exec)
    )
    assert proc.stdout is not None
    token = read_banner(proc.stdout, 90).admin_token
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    ca = (tmp_path / "data" / "ca" / "ca.pem").read_bytes()
    try:
        yield f"localhost:{api_port}", ca, token, proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _status(address: str, ca: bytes, token: str) -> Any:
    creds = grpc.ssl_channel_credentials(root_certificates=ca)
    with grpc.secure_channel(address, creds, options=CLIENT_OPTIONS) as channel:
        return admin_pb2_grpc.AdminServiceStub(channel).GetStatus(
            admin_pb2.GetStatusRequest(), metadata=bearer_metadata(token), timeout=5
        )


def _closed_by_peer(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1) == b""
    except OSError:
        return True


@pytest.mark.timeout(120)
def test_idle_sockets_do_not_lock_a_descriptor_limited_fleet_out(
    small_fleet: tuple[str, bytes, str, subprocess.Popen[str]],
) -> None:
    address, ca, token, proc = small_fleet
    port = int(address.rpartition(":")[2])
    # More idle connections than the fleet has descriptors (256): each never handshakes.
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(300)]
    try:
        deadline = time.monotonic() + 60
        served = None
        while served is None and time.monotonic() < deadline:
            try:
                served = _status(address, ca, token)
            except grpc.RpcError:
                time.sleep(0.5)
        assert served is not None, "a real client never got in while idle sockets were held"
        # The fleet closed every idle socket itself (over the cap at once, the rest at
        # the handshake timeout) and is still running.
        while time.monotonic() < deadline and not all(_closed_by_peer(s) for s in idle):
            time.sleep(0.5)
        assert all(_closed_by_peer(s) for s in idle)
        assert proc.poll() is None
        assert _status(address, ca, token).version
    finally:
        for sock in idle:
            sock.close()

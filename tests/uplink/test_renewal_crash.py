"""A power cut at any step of installing a renewed certificate leaves a working identity.

Real fleet over mutual TLS: the box renews (`Renewer.renew`, the code the uplink runs), and
the install is cut short before each of its file operations in turn (the process "dies":
nothing after that point runs). The store is then reopened as after a reboot; its key and
certificate must match, its identity document must describe that certificate, and the
fleet must accept it - the old pair if the cut came before the new one was durable, the
new pair after.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import grpc
import pytest

from agent.config.agent import FleetSection
from agent.identity import AgentStore, Credentials, cert_facts, pair_matches
from agent.uplink.enroll import enroll
from agent.uplink.renewal import Renewer
from agent.uplink.uplink_metrics import AgentMetrics
from fleet.config import CertificateSettings
from proto.oko.v1 import agent_pb2_grpc
from proto.transport import CLIENT_OPTIONS
from tests.fleet.helpers import AgentStream
from tests.support.fleet import FleetHandle
from tests.uplink.harness import ThreadFleet, _SharedLoop

pytestmark = pytest.mark.timeout(120)
STEPS = 5  # staged key, staged certificate, promote key, promote certificate, document


class PowerCut(BaseException):
    """Raised in place of a file operation: nothing after it happens, like a dead process."""


def _on_agent_loop(coro: Coroutine[Any, Any, Any]) -> Any:
    future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, _SharedLoop.get())
    return future.result(60)


def _channel(creds: Credentials, port: int) -> grpc.aio.Channel:
    tls = grpc.ssl_channel_credentials(creds.ca, creds.private_key, creds.certificate)
    return grpc.aio.secure_channel(f"localhost:{port}", tls, options=CLIENT_OPTIONS)


async def _renew(store: AgentStore, port: int) -> None:
    renewer = Renewer(store, FleetSection, AgentMetrics())
    async with _channel(store.credentials(), port) as channel:
        await renewer.renew(agent_pb2_grpc.AgentServiceStub(channel))


async def _welcomed(creds: Credentials, port: int) -> str:
    async with _channel(creds, port) as channel:
        stream = AgentStream(channel)
        try:
            return str((await stream.next("welcome")).welcome.device_id)
        finally:
            stream.close()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[FleetHandle]:
    server = ThreadFleet(tmp_path / "fleet")
    server.settings = server.settings.model_copy(
        update={"certificates": CertificateSettings(renewals_per_hour=100)}
    )
    handle = server.start()
    try:
        yield handle
    finally:
        handle.close()
        server.close()


def test_a_power_cut_at_every_step_of_the_install_leaves_a_working_identity(
    fleet: FleetHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "box"
    store = AgentStore(data)
    device_id = enroll(store, fleet.api, fleet.enrollment_token()).device_id
    real_replace = os.replace
    for cut_before in range(1, STEPS + 2):  # STEPS + 1: no cut at all
        old = store.credentials().certificate
        calls = 0

        def replace(src: Any, dst: Any, _cut: int = cut_before) -> None:
            nonlocal calls
            calls += 1
            if calls == _cut:
                raise PowerCut(f"power cut before file operation {calls}")
            real_replace(src, dst)

        monkeypatch.setattr("agent.identity.os.replace", replace)
        try:
            _on_agent_loop(_renew(store, fleet.agent_port))
        except PowerCut:
            assert cut_before <= STEPS
        monkeypatch.setattr("agent.identity.os.replace", real_replace)
        store.close()

        store = AgentStore(data)  # the reboot
        creds = store.credentials()
        identity = store.identity()
        assert identity is not None and identity.device_id == device_id
        assert pair_matches(creds.private_key, creds.certificate)
        assert cert_facts(creds.certificate) == (identity.not_after, identity.cert_sha256)
        renewed = creds.certificate != old
        assert renewed == (cut_before > 2), cut_before  # durable once both are staged
        assert _on_agent_loop(_welcomed(creds, fleet.agent_port)) == device_id, cut_before
        leftovers = sorted(p.name for p in (data / "identity").iterdir() if "new" in p.name)
        assert leftovers == [], (cut_before, leftovers)
    store.close()

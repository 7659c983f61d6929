"""A live view where the operator's console and the box are on different replicas.

Two real `oko-fleet serve` replicas over one PostgreSQL and one NATS, each with its
console; the box streams to r1, the operator watches on r0. The request goes through r1
to the box, the box's frames come back to r0's page, and r0 still checks every frame as
if the box were connected there.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fleet.console.live_relay import decode_frame, encode_frame
from tests.console.test_console_server import START, STOP, live_frame, next_request, watch
from tests.fleet.helpers import AgentStream, api_channel, enroll, enrollment_token
from tests.fleet.watchlist_helpers import api_token
from tests.scale.replicas import Replicas
from tests.support.fleet import FleetCli

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]
OPERATOR = 2


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    cluster = Replicas(tmp_path_factory.mktemp("console-replicas"), count=2)
    for fleet in cluster.fleets:
        fleet.args += ["--console", "127.0.0.1:0", "--config", str(_lease_config(fleet))]
    try:
        yield cluster.start()
    finally:
        cluster.close()


def _lease_config(fleet: FleetCli) -> Path:
    path = fleet.data_dir.parent / f"{fleet.data_dir.name}.yaml"
    path.write_text("console:\n  live_lease_s: 3\n")
    return path


async def _operator(replicas: Replicas, http: httpx.AsyncClient) -> str:
    async with api_channel(replicas.fleets[0].api_port, replicas.ca) as channel:
        token = await api_token(channel, replicas.admin, "olga", OPERATOR)
    page = await http.get("/login")
    nonce = re.findall(r'name="nonce" value="([^"]+)"', page.text)[0]
    reply = await http.post("/login", data={"nonce": nonce, "token": token})
    assert reply.status_code == 303, reply.text
    alerts = await http.get("/alerts")
    return re.findall(r'name="csrf" value="([^"]+)"', alerts.text)[0]


async def _open_when_known(http: httpx.AsyncClient, csrf: str, device_id: str) -> str:
    """Open the view once r0 has heard (by notice) that the box is on r1."""
    for _ in range(100):
        form = {"csrf": csrf, "device": device_id, "camera": "cam-1"}
        reply = await http.post("/live", data=form)
        if reply.status_code == 303:
            return reply.headers["location"].rsplit("/", 1)[1]
        assert reply.status_code == 409 and "is not connected" in reply.text, reply.text
        await asyncio.sleep(0.1)
    raise AssertionError("r0 never learnt that the box is connected to r1")


async def test_an_operator_on_one_replica_watches_a_box_on_another(replicas: Replicas) -> None:
    r0, r1 = replicas.fleets
    async with api_channel(r0.api_port, replicas.ca) as channel:
        box = await enroll(channel, await enrollment_token(channel, replicas.admin, "city"), "far")
    tls = ssl.create_default_context(cadata=replicas.ca.decode())
    async with (
        httpx.AsyncClient(
            base_url=f"https://localhost:{r0.console_port}", verify=tls, timeout=20
        ) as http,
        box.channel(r1.agent_port) as grpc_channel,
    ):
        csrf = await _operator(replicas, http)
        stream = AgentStream(grpc_channel)
        await stream.next("welcome")
        view = await _open_when_known(http, csrf, box.device_id)
        seen = [0]
        watcher = asyncio.create_task(watch(http, view, seen))
        asked = await next_request(stream, START)  # r0's request, sent down by r1
        assert (asked.view_id, asked.camera_id, asked.lease_seconds) == (view, "cam-1", 3)
        stream.send(live_frame(view, camera="cam-2"))  # wrong camera: refused at r0
        for _ in range(8):
            await asyncio.sleep(0.3)
            stream.send(live_frame(view))
        for _ in range(100):
            if seen[0] >= 5:
                break
            await asyncio.sleep(0.1)
        assert seen[0] >= 5, seen  # the frames crossed from r1 to r0's page
        status = (await http.get(f"/live/{view}/status")).json()
        assert status["refused"] == 1 and status["width"] == 768 and status["tracks"] == 2
        watcher.cancel()  # the page closes on r0: the box on r1 is told to stop
        stop = await next_request(stream, STOP)
        assert stop.view_id == view
        await asyncio.gather(watcher, return_exceptions=True)
        stream.close()


def test_a_relayed_frame_is_the_box_id_then_the_frame_and_nothing_else_parses() -> None:
    frame = live_frame("lv-0123456789abcdef").live_frame
    device_id, back = decode_frame(encode_frame("dev-1", frame))
    assert device_id == "dev-1" and back == frame
    for bad in (b"", b"no-newline", b"\n" + frame.SerializeToString(), b"x" * 200 + b"\nzz"):
        with pytest.raises(ValueError):
            decode_frame(bad)

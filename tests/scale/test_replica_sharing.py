"""What one replica has, another serves: live views and model files across replicas.

Two real `oko-fleet serve` replicas over one PostgreSQL and one NATS, each with its
console. A live view: the box streams to r1, the operator watches on r0; the request goes
through r1 to the box, the box's frames come back to r0's page, and r0 still checks every
frame as if the box were connected there. A model pushed through r0 downloads from r1,
which copies each file from the shared store with the same checks as an upload.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from fleet.console.live_relay import decode_frame, encode_frame
from proto.oko.v1 import agent_pb2_grpc, models_pb2
from tests.console.test_console_server import START, STOP, live_frame, next_request, watch
from tests.fleet.helpers import AgentStream, Identity, api_channel, enroll, enrollment_token
from tests.fleet.watchlist_helpers import api_token
from tests.scale.replicas import Replicas
from tests.support.fleet import FleetCli
from tests.support.model_artifacts import (
    INT8,
    assign,
    make_key,
    packaged,
    push,
    reference_frames,
    trust,
)

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


async def _fetch(box: Identity, port: int, version: str, sha256: str = "") -> bytes:
    async with box.channel(port) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        request = models_pb2.FetchModelRequest(
            name="nanodet-g", version=version, file_sha256=sha256
        )
        return b"".join([c.data async for c in stub.FetchModel(request, timeout=60)])


async def test_a_model_pushed_through_one_replica_downloads_from_another(
    replicas: Replicas, tmp_path: Path
) -> None:
    r0, r1 = replicas.fleets
    version = "2.0.0-int8"
    key = make_key(tmp_path / "keys")
    frames = reference_frames(tmp_path / "frames", (260, 520))
    model = packaged(INT8, "nanodet-g", version, frames=frames, out=tmp_path / "out", key=key)
    await asyncio.to_thread(trust, r0.handle(), key)
    stored = await asyncio.to_thread(push, r0.handle(), model, "nanodet-g", version)
    async with api_channel(r0.api_port, replicas.ca) as channel:
        box = await enroll(channel, await enrollment_token(channel, replicas.admin, "city"), "dl")
    await asyncio.to_thread(assign, r0.handle(), [box.device_id], "nanodet-g", version)

    def on_r1(sha256: str) -> Path:
        return r1.data_dir / "models" / "blobs" / sha256[:2] / sha256

    assert not on_r1(stored.sha256).exists()  # pushed through r0 only
    assert await _fetch(box, r1.agent_port, version) == model.read_bytes()
    assert on_r1(stored.sha256).is_file()  # kept: the next box is served from r1's disk
    shas = [s for s in replicas.sql("SELECT DISTINCT sha256 FROM model_artifact_chunks").split()]
    first, second = sorted(set(shas) - {stored.sha256})[:2]
    assert len(await _fetch(box, r1.agent_port, version, first)) > 1000
    # A damaged shared copy is refused by the replica filling from it, and never named.
    replicas.sql(
        f"UPDATE model_artifact_chunks SET data = decode('00ff', 'hex') || data"
        f" WHERE sha256 = '{second}' AND seq = 0"
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _fetch(box, r1.agent_port, version, second)
    assert "damaged" in (info.value.details() or ""), info.value
    assert not on_r1(second).exists()

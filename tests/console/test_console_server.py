"""The console over real HTTPS in the fleet process, with real agent streams: no browser.

Live views at the protocol level (what a box is asked, what the fleet accepts of what it
sends, one bad box beside a good one), the live feed resuming by Last-Event-ID, sessions
ending with their token, and the HTTP-level guards (TLS, cookies, CSRF, origin, sizes).
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import grpc
import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from fleet.errors import FleetError
from proto.oko.v1 import admin_pb2, agent_pb2, console_pb2
from proto.transport import bearer_metadata
from tests.fleet.conftest import Fleet, running_fleet
from tests.fleet.helpers import AgentStream, admin_stub, event, event_stub, new_device, start_fleet
from tests.fleet.watchlist_helpers import api_token
from tests.support.media import VTEST
from tests.support.net import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
START = console_pb2.LiveViewRequest.ACTION_START
STOP = console_pb2.LiveViewRequest.ACTION_STOP


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


_OPEN: list[httpx.AsyncClient] = []


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    async with running_fleet(
        tmp_path / "fleet", console_listen="127.0.0.1:0", console={"live_lease_s": 3}
    ) as running:
        try:
            yield running
        finally:  # like browsers, clients hang up before the fleet stops
            while _OPEN:
                await _OPEN.pop().aclose()


class Console:
    """An operator's HTTPS client of the console, logged in, with the session's CSRF token."""

    def __init__(self, fleet: Fleet) -> None:
        assert fleet.server.console is not None
        tls = ssl.create_default_context(cafile=str(fleet.data_dir / "ca" / "ca.pem"))
        self.http = httpx.AsyncClient(
            base_url=f"https://localhost:{fleet.server.console.port}", verify=tls, timeout=20
        )
        _OPEN.append(self.http)
        self.csrf = ""

    async def login(self, token: str) -> Console:
        page = await self.http.get("/login")
        nonce = re.findall(r'name="nonce" value="([^"]+)"', page.text)[0]
        reply = await self.http.post("/login", data={"nonce": nonce, "token": token})
        assert reply.status_code == 303, reply.text
        alerts = await self.http.get("/alerts")
        self.csrf = re.findall(r'name="csrf" value="([^"]+)"', alerts.text)[0]
        return self

    async def open_view(self, device_id: str, camera_id: str) -> str:
        reply = await self.http.post(
            "/live", data={"csrf": self.csrf, "device": device_id, "camera": camera_id}
        )
        assert reply.status_code == 303, reply.text
        return reply.headers["location"].rsplit("/", 1)[1]


async def operator(fleet: Fleet, name: str = "olga") -> Console:
    return await Console(fleet).login(await api_token(fleet.api, fleet.admin, name, 2))


def real_jpeg(width: int = 768) -> tuple[bytes, int, int]:
    cap = cv2.VideoCapture(str(VTEST))
    ok, img = cap.read()
    cap.release()
    assert ok
    if img.shape[1] != width:
        img = cv2.resize(img, (width, img.shape[0] * width // img.shape[1]))
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes(), img.shape[1], img.shape[0]


def live_frame(view_id: str, camera: str = "cam-1", **fields: object) -> agent_pb2.AgentMessage:
    data, width, height = real_jpeg()
    stamp = Timestamp()
    stamp.GetCurrentTime()
    frame = console_pb2.LiveFrame(
        view_id=view_id, camera_id=camera, capture_time=stamp, width=width, height=height,
        jpeg=data, tracks=2,
    )  # fmt: skip
    for name, value in fields.items():
        setattr(frame, name, value)
    return agent_pb2.AgentMessage(live_frame=frame)


async def watch(http: httpx.AsyncClient, view_id: str, seen: list[int]) -> None:
    """What an <img> does with the view: read the multipart stream, count JPEG parts."""
    async with http.stream("GET", f"/live/{view_id}/frames") as reply:
        assert reply.headers["content-type"].startswith("multipart/x-mixed-replace")
        buffer = b""
        async for chunk in reply.aiter_bytes():
            buffer += chunk
            seen[0] = buffer.count(b"Content-Type: image/jpeg")


async def next_request(stream: AgentStream, action: int) -> console_pb2.LiveViewRequest:
    while True:  # renewals (START) come every lease/3 s; skip to the wanted action
        request = (await stream.next("live_view")).live_view
        if request.action == action:
            return request


def refused(fleet: Fleet, outcome: str) -> float:
    value = fleet.server.app.metrics.registry.get_sample_value(
        "oko_fleet_console_live_frames_total", {"outcome": outcome}
    )
    return value or 0.0


async def test_bad_live_frames_cost_only_their_view_never_the_box_or_another_box(
    fleet: Fleet,
) -> None:
    good = await new_device(fleet.server, fleet.admin, fleet.ca, name="good")
    rogue = await new_device(fleet.server, fleet.admin, fleet.ca, name="rogue")
    client = await operator(fleet)
    async with (
        good.channel(fleet.server.agent_port) as g,
        rogue.channel(fleet.server.agent_port) as r,
    ):
        good_box, rogue_box = AgentStream(g), AgentStream(r)
        await good_box.next("welcome")
        await rogue_box.next("welcome")
        rogue_box.send(live_frame("lv-0000000000000000"))  # nobody asked: dropped
        good_view = await client.open_view(good.device_id, "cam-1")
        rogue_view = await client.open_view(rogue.device_id, "cam-1")
        good_seen, rogue_seen = [0], [0]
        watchers = [
            asyncio.create_task(watch(client.http, good_view, good_seen)),
            asyncio.create_task(watch(client.http, rogue_view, rogue_seen)),
        ]
        asked = await next_request(good_box, START)
        assert (asked.view_id, asked.camera_id, asked.max_fps) == (good_view, "cam-1", 4.0)
        assert asked.lease_seconds == 3 and asked.max_width == 960 and asked.max_bytes == 256 * 1024
        await next_request(rogue_box, START)
        jpeg, _, _ = real_jpeg()
        bad = [
            live_frame(rogue_view, camera="cam-2"),
            live_frame(rogue_view, jpeg=b"GIF89a" + jpeg[6:]),
            live_frame(rogue_view, jpeg=jpeg + b"\x00" * 300_000),
            live_frame(rogue_view, width=100),
            live_frame(rogue_view, jpeg=b"", error="camera \x1b[31m gone"),
            live_frame(good_view),  # another box's view
        ]
        for message in bad:
            rogue_box.send(message)
            await asyncio.sleep(0.3)  # within the rate: refused for what they are
        rogue_box.send_batch([event("cam-1", 1)])
        assert (await rogue_box.next("ack")).ack.accepted == 1  # its events go on
        for _ in range(8):
            good_box.send(live_frame(good_view))
            await asyncio.sleep(0.3)
        for _ in range(40):  # a flood: far above the rate, until the view gives up
            rogue_box.send(live_frame(rogue_view))
        await next_request(rogue_box, STOP)
        status = (await client.http.get(f"/live/{rogue_view}/status")).json()
        assert status["ended"].startswith("the box sent 25 invalid frames (first: ")
        assert "camera 'cam-2'" in status["ended"]
        for _ in range(50):
            if good_seen[0] >= 6:
                break
            await asyncio.sleep(0.1)
        assert good_seen[0] >= 6  # the good box's view never noticed
        good_status = (await client.http.get(f"/live/{good_view}/status")).json()
        assert good_status["refused"] == 0 and good_status["width"] == 768
        assert good_status["tracks"] == 2
        watchers[0].cancel()  # the page closes: its box is told at once
        stop = await next_request(good_box, STOP)
        assert stop.view_id == good_view
        await asyncio.gather(*watchers, return_exceptions=True)
        rogue_box.send_batch([event("cam-1", 2)])
        assert (await rogue_box.next("ack")).ack.accepted == 1
        good_box.close()
        rogue_box.close()
    for outcome in ("unsolicited", "camera", "jpeg", "size", "error_text", "rate"):
        assert refused(fleet, outcome) >= 1, outcome
    assert refused(fleet, "accepted") >= 6


async def test_a_live_view_needs_a_connected_box_and_is_bounded_per_box(fleet: Fleet) -> None:
    box = await new_device(fleet.server, fleet.admin, fleet.ca, name="cams")
    client = await operator(fleet)
    reply = await client.http.post(
        "/live", data={"csrf": client.csrf, "device": box.device_id, "camera": "cam-1"}
    )
    assert reply.status_code == 409 and "is not connected" in reply.text
    async with box.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        await stream.next("welcome")
        views = [await client.open_view(box.device_id, f"cam-{i}") for i in range(4)]
        reply = await client.http.post(
            "/live", data={"csrf": client.csrf, "device": box.device_id, "camera": "cam-9"}
        )
        assert reply.status_code == 409 and "already has 4 live views open" in reply.text
        other = await operator(fleet, "oscar")
        assert (await other.http.get(f"/live/{views[0]}/status")).status_code == 403
        assert (await other.http.get("/live/lv-0123456789abcdef/status")).status_code == 404
        stream.close()


async def test_the_live_feed_resumes_right_after_the_last_event_id(fleet: Fleet) -> None:
    box = await new_device(fleet.server, fleet.admin, fleet.ca, name="counter")
    async with box.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        stream.send_batch([event("cam-1", i) for i in range(1, 31)])
        assert (await stream.next("ack")).ack.accepted == 30
        stream.close()
    from proto.oko.v1 import stream_pb2

    page = await event_stub(fleet.api).Query(
        stream_pb2.QueryRequest(limit=100), metadata=bearer_metadata(fleet.admin)
    )
    cursors = [e.cursor for e in page.events]
    client = await operator(fleet)

    async def rows(headers: dict[str, str], query: str, n: int) -> list[int]:
        ids: list[int] = []
        async with client.http.stream("GET", "/events/stream" + query, headers=headers) as reply:
            assert reply.headers["content-type"].startswith("text/event-stream")
            block: list[str] = []
            async for line in reply.aiter_lines():
                if line:
                    block.append(line)
                    continue
                if "event: row" in block:
                    ids.append(int(next(b for b in block if b.startswith("id: "))[4:]))
                    if len(ids) == n:
                        return ids
                block = []
        return ids

    resumed = await asyncio.wait_for(rows({"Last-Event-ID": str(cursors[9])}, "?after=0", 20), 20)
    assert resumed == cursors[10:30]  # the header wins over the page's cursor
    assert await asyncio.wait_for(rows({}, f"?after={cursors[24]}", 5), 20) == cursors[25:]
    bad = await client.http.get("/events/stream", headers={"Last-Event-ID": "12; drop"})
    assert bad.status_code == 400


async def test_a_revoked_token_ends_its_session_and_its_open_stream(fleet: Fleet) -> None:
    token = await api_token(fleet.api, fleet.admin, "rita", admin_pb2.ROLE_OPERATOR)
    client = await Console(fleet).login(token)
    token_id = token.split(".")[1]
    ended: list[str] = []

    async def follow() -> None:
        async with client.http.stream("GET", "/alerts/stream") as reply:
            async for line in reply.aiter_lines():
                if line.startswith("data: ") and "reason" in line:
                    ended.append(line)
                    return

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.5)
    await admin_stub(fleet.api).RevokeApiToken(
        admin_pb2.RevokeApiTokenRequest(token_id=token_id), metadata=bearer_metadata(fleet.admin)
    )
    await asyncio.wait_for(task, 10)
    assert "was revoked" in ended[0]
    reply = await client.http.get("/cameras")
    assert reply.status_code == 303 and reply.headers["location"] == "/login?reason=token"


async def test_tls_cookies_and_the_guards_of_every_post(fleet: Fleet) -> None:
    client = Console(fleet)
    page = await client.http.get("/login")  # verified against the fleet's CA: its own cert
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    forged = await client.http.post("/login", data={"nonce": "other", "token": fleet.admin})
    assert forged.status_code == 403  # login CSRF: the nonce must match the cookie
    nonce = re.findall(r'name="nonce" value="([^"]+)"', forged.text)[0]  # a fresh form
    reply = await client.http.post("/login", data={"nonce": nonce, "token": fleet.admin})
    assert reply.status_code == 303
    cookie = next(c for c in reply.headers.get_list("set-cookie") if "oko_session" in c)
    assert cookie.startswith("__Host-oko_session=")
    assert all(flag in cookie for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"))
    client.csrf = re.findall(
        r'name="csrf" value="([^"]+)"', (await client.http.get("/alerts")).text
    )[0]
    post = {"csrf": client.csrf, "kind": "confirm"}
    cross = await client.http.post(
        "/alerts/a1/decide", data=post, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403 and "cross-site" in cross.text
    json_post = await client.http.post("/alerts/a1/decide", json=post)
    assert json_post.status_code == 400
    huge = await client.http.post("/alerts/a1/decide", data={**post, "note": "x" * 20_000})
    assert huge.status_code == 413
    missing = await client.http.post("/alerts/a1/decide", data=post)
    assert missing.status_code == 404 and "a1" in missing.text
    hostile = await client.http.get("/events?camera=%3Cb%3Ex%3C%2Fb%3E")
    assert hostile.status_code == 400 and "&lt;b&gt;x&lt;/b&gt;" in hostile.text
    assert "<b>x</b>" not in hostile.text
    plain = httpx.AsyncClient(verify=False)
    async with plain:
        with pytest.raises(httpx.HTTPError):  # no plain HTTP on the console's port
            await plain.get(f"http://localhost:{fleet.server.console.port}/login")  # type: ignore[union-attr]


async def test_a_busy_console_port_is_an_error_naming_it(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen(1)
        with pytest.raises(FleetError, match=f"cannot serve the console on 127.0.0.1:{port}"):
            await start_fleet(tmp_path / "f", console_listen=f"127.0.0.1:{port}")
    server = await start_fleet(tmp_path / "f", console_listen=f"127.0.0.1:{port}")
    try:  # nothing was left half-started: the same data dir and port work at once
        assert server.console is not None and server.console.port == port
    finally:
        await server.stop(0.2)


async def test_grpc_decisions_and_console_decisions_are_the_same_rule(fleet: Fleet) -> None:
    """Unknown alerts are refused the same way over both (no alert: 404 / NOT_FOUND)."""
    from proto.oko.v1 import watchlists_pb2 as pb
    from tests.fleet.watchlist_helpers import stub

    token = await api_token(fleet.api, fleet.admin, "omar", admin_pb2.ROLE_OPERATOR)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub(fleet.api).DecideAlert(
            pb.DecideAlertRequest(alert_id="nope", kind=pb.AlertDecision.KIND_CONFIRM),
            metadata=bearer_metadata(token),
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    client = await Console(fleet).login(token)
    reply = await client.http.post(
        "/alerts/nope/decide", data={"csrf": client.csrf, "kind": "confirm"}
    )
    assert reply.status_code == 404

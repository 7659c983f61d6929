"""Webhooks against a real local HTTP server: signed, retried, dead-lettered, filtered."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from proto.oko.v1 import admin_pb2
from proto.transport import bearer_metadata
from tests.fleet.conftest import Fleet, running_fleet
from tests.fleet.helpers import AgentStream, admin_stub, event, new_device

pytestmark = pytest.mark.anyio


class Receiver:
    """Records deliveries; answers 500 to the first `fail_first` requests (or all)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append((dict(self.headers), body))
                    failing = len(receiver.requests) <= receiver.fail_first
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def delivered_ids(self) -> list[str]:
        with self.lock:
            return [
                e["event"]["eventId"]
                for _, body in self.requests[self.fail_first :]
                for e in json.loads(body)["events"]
            ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


async def _wait(predicate, timeout: float = 15) -> None:
    async def _poll() -> None:
        while not predicate():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(_poll(), timeout)


async def _hook(fleet: Fleet, url: str, **filters: list[str]) -> admin_pb2.Webhook:
    return await admin_stub(fleet.api).CreateWebhook(
        admin_pb2.CreateWebhookRequest(url=url, secret="s3cret", **filters),
        metadata=bearer_metadata(fleet.admin),
        timeout=10,
    )


async def _send(fleet: Fleet, events: list) -> None:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        stream.send_batch(events)
        await stream.next("ack")
        stream.close()


async def test_deliveries_are_signed_and_filtered(fleet: Fleet, receiver: Receiver) -> None:
    await _hook(fleet, receiver.url, types=["face"])
    events = [event("cam-1", 1, "face"), event("cam-1", 2), event("cam-2", 3, "face")]
    await _send(fleet, events)
    await _wait(lambda: len(receiver.delivered_ids()) == 2)
    assert receiver.delivered_ids() == [events[0].event_id, events[2].event_id]
    headers, body = receiver.requests[0]
    # Standard Webhooks, recomputed here from the spec: v1,base64(HMAC(id.timestamp.body)).
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    signed = f"{msg_id}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(b"s3cret", signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    assert abs(int(stamp) - time.time()) < 300


async def test_failed_posts_are_retried_then_delivered(tmp_path: Path) -> None:
    receiver = Receiver(fail_first=2)
    async with running_fleet(tmp_path / "f", webhook_attempts=4, webhook_backoff_s=0.05) as fleet:
        await _hook(fleet, receiver.url)
        events = [event("cam-1", i) for i in range(3)]
        await _send(fleet, events)
        await _wait(lambda: len(receiver.delivered_ids()) == 3)
        assert receiver.delivered_ids() == [e.event_id for e in events]
        (hook,) = (
            await admin_stub(fleet.api).ListWebhooks(
                admin_pb2.ListWebhooksRequest(), metadata=bearer_metadata(fleet.admin)
            )
        ).webhooks
        assert (hook.delivered, hook.failed_attempts, hook.dead_letters) == (3, 2, 0)
        assert hook.secret == ""  # never shown again after creation
    receiver.close()


async def test_endpoint_that_always_fails_dead_letters_and_ingest_goes_on(tmp_path: Path) -> None:
    receiver = Receiver(fail_first=10**9)
    async with running_fleet(tmp_path / "f", webhook_attempts=2, webhook_backoff_s=0.05) as fleet:
        await _hook(fleet, receiver.url)
        await _send(fleet, [event("cam-1", i) for i in range(5)])
        meta = bearer_metadata(fleet.admin)

        async def dead() -> int:
            status = await admin_stub(fleet.api).GetStatus(
                admin_pb2.GetStatusRequest(), metadata=meta
            )
            return status.webhook_dead_letters

        async def _poll() -> None:
            while await dead() < 5:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(_poll(), 15)
        assert len(receiver.requests) == 2  # one batch, two attempts, then given up
        status = await admin_stub(fleet.api).GetStatus(admin_pb2.GetStatusRequest(), metadata=meta)
        assert status.events_stored == 5
    receiver.close()

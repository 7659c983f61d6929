"""Webhook dead letters listed and replayed with okoctl, against a real `oko-fleet serve` and
a real HTTP receiver that checks every signature the Standard Webhooks way: with the
reference `standardwebhooks` verifier and with the spec recomputed here (issue 14, item 3)."""

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

import pytest
import standardwebhooks
from typer.testing import CliRunner

from fleet.ctl import app
from fleet.errors import InvalidRequestError
from fleet.webhooks import check_secret, sign, signing_key
from proto.oko.v1 import events_pb2
from tests.fleet import helpers
from tests.fleet.helpers import api_channel
from tests.support.fleet import FleetCli
from tests.support.net import free_port

pytestmark = pytest.mark.timeout(180)


def spec_signature(key: bytes, headers: dict[str, str], body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(id.timestamp.body)>`, from the Standard Webhooks spec."""
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class Receiver:
    """A webhook endpoint: 500 while `failing`, else verifies and answers 204 (401 if bad)."""

    def __init__(self) -> None:
        self.secret = ""
        self.failing = True
        self.verified: list[dict[str, object]] = []  # bodies that passed both checks
        self.refused: list[str] = []
        self.posts = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(receiver.answer(dict(self.headers), body))
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.posts += 1
            if self.failing:
                return 500
            lower = {k.lower(): v for k, v in headers.items()}
            try:
                data = standardwebhooks.Webhook(self.secret).verify(body, lower)
            except standardwebhooks.WebhookVerificationError as err:
                self.refused.append(str(err))
                return 401
            key = base64.b64decode(self.secret.removeprefix("whsec_"))
            if lower["webhook-signature"] != spec_signature(key, lower, body):
                self.refused.append("spec signature differs")
                return 401
            self.verified.append(data)
            return 204

    def event_ids(self) -> list[str]:
        with self.lock:
            return [e["event"]["eventId"] for d in self.verified for e in d["events"]]  # type: ignore[attr-defined]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetCli]:
    base = tmp_path_factory.mktemp("replay")
    settings = base / "fleet.yaml"
    settings.write_text("webhook_attempts: 1\nwebhook_backoff_s: 0.05\nwebhook_batch: 2\n")
    server = FleetCli(base / "fleet", free_port(), free_port(), ("--config", str(settings)))
    server.start()
    yield server
    server.stop()


def run(fleet: FleetCli, *args: str, token: str = "") -> tuple[int, str, str]:
    env = {
        "OKO_FLEET": fleet.api,
        "OKO_TOKEN": token or fleet.admin_token,
        "OKO_CA_FILE": str(fleet.ca_file),
        "OKOCTL_CONFIG": "/nonexistent/okoctl.yaml",
    }
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def produce(fleet: FleetCli, events: list[events_pb2.Event]) -> None:
    async def go() -> None:
        async with api_channel(fleet.api_port, fleet.ca) as api:
            token = await helpers.enrollment_token(api, fleet.admin_token)
            ident = await helpers.enroll(api, token)
        async with ident.channel(fleet.agent_port) as channel:
            stream = helpers.AgentStream(channel)
            stream.send_batch(events)
            await stream.next("ack")
            stream.close()

    asyncio.run(go())


def failures(fleet: FleetCli, *args: str) -> list[dict[str, object]]:
    code, out, err = run(fleet, "webhook", "failures", "-o", "json", *args)
    assert code == 0, err
    return list(json.loads(out))


def wait_for(predicate: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_dead_letters_are_listed_then_replayed_with_verifiable_signatures(
    fleet: FleetCli,
) -> None:
    receiver = Receiver()
    code, out, err = run(fleet, "webhook", "create", receiver.url, "--camera", "cam-r")
    assert code == 0, err
    hook_id, secret = out.split()[0], out.split()[1].removeprefix("secret=")
    assert secret.startswith("whsec_") and len(signing_key(secret)) == 32
    receiver.secret = secret
    sent = [helpers.event("cam-r", i, "zone" if i % 2 else "line_crossing") for i in range(5)]
    produce(fleet, sent)
    wait_for(lambda: len(failures(fleet)) == 5)  # one attempt per batch, then given up

    listed = failures(fleet)
    assert [d["event_id"] for d in listed] == [e.event_id for e in sent]  # oldest first
    first = listed[0]
    assert first["id"] == f"{hook_id}:{first['cursor']}" and first["state"] == "STATE_PENDING"
    assert first["error"] == "HTTP 500" and first["event_type"] == "line_crossing"
    assert isinstance(first["cursor"], int) and str(first["failed_at"]).endswith("Z")
    code, table, _ = run(fleet, "webhook", "failures")
    assert table.splitlines()[0].split()[:3] == ["ID", "STATE", "FAILED"] and "HTTP 500" in table
    named = run(fleet, "webhook", "failures", "-o", "name")[1].split()
    assert named == [f"deadletter/{d['id']}" for d in listed]

    # Still failing: the replay is recorded, reported, exit 1, and the letter stays pending.
    code, out, _ = run(fleet, "webhook", "replay", str(first["id"]))
    assert code == 1 and "failed" in out and "HTTP 500" in out
    again = failures(fleet)[0]
    assert again["replays"] == 1 and again["last_replay_error"] == "HTTP 500"

    receiver.failing = False
    code, out, err = run(fleet, "webhook", "replay", str(first["id"]))
    assert code == 0 and "delivered" in out, err
    assert receiver.event_ids() == [sent[0].event_id] and receiver.refused == []
    assert [d["event_id"] for d in failures(fleet)] == [e.event_id for e in sent[1:]]
    code, out, err = run(fleet, "webhook", "replay", "--all")
    assert code == 0 and "4 delivered" in err, err
    assert sorted(receiver.event_ids()) == sorted(e.event_id for e in sent)
    assert receiver.refused == [] and failures(fleet) == []
    done = failures(fleet, "--all")
    assert {d["state"] for d in done} == {"STATE_REPLAYED"} and len(done) == 5
    # A delivered one is not sent again.
    posts = receiver.posts
    code, out, _ = run(fleet, "webhook", "replay", str(first["id"]), "-o", "json")
    assert code == 0 and json.loads(out)[0]["outcome"] == "OUTCOME_DONE"
    assert receiver.posts == posts
    code, out, _ = run(fleet, "audit", "list", "--action", "webhook.replay", "-o", "json")
    assert len(json.loads(out)["records"]) == 4
    receiver.close()


def test_bad_ids_and_weak_roles_are_refused_and_nothing_is_sent(fleet: FleetCli) -> None:
    code, _, err = run(fleet, "webhook", "replay", "wh-0011:abc")
    assert code == 1 and "INVALID_ARGUMENT" in err and "ids[0]" in err
    code, _, err = run(fleet, "webhook", "replay", "wh-001122334455:7")
    assert code == 1 and "NOT_FOUND" in err and "wh-001122334455:7" in err
    code, _, err = run(fleet, "webhook", "replay", "x", "--all")
    assert code == 2 and "not both" in err
    code, viewer, _ = run(fleet, "token", "create-api", "--name", "wall", "--role", "viewer")
    code, _, err = run(fleet, "webhook", "replay", "--all", token=viewer.strip())
    assert code == 1 and "PERMISSION_DENIED" in err
    code, out, err = run(fleet, "webhook", "failures", "--all", "-o", "json", token=viewer.strip())
    assert code == 0 and isinstance(json.loads(out), list), err
    code, _, err = run(fleet, "webhook", "failures", "--webhook", "nope'; drop")
    assert code == 1 and "INVALID_ARGUMENT" in err and "webhook_id" in err


def test_signatures_match_the_reference_verifier_for_both_kinds_of_secret() -> None:
    body = b'{"webhook_id":"wh-1","events":[]}'
    now = int(time.time())
    for secret, key in (
        ("whsec_" + base64.b64encode(b"k" * 32).decode(), b"k" * 32),
        ("a-secret-chosen-by-the-admin", b"a-secret-chosen-by-the-admin"),
    ):
        headers = {
            "webhook-id": "msg_wh-1_5_9",
            "webhook-timestamp": str(now),
            "webhook-signature": sign(secret, "msg_wh-1_5_9", now, body),
        }
        standardwebhooks.Webhook(key).verify(body, headers)  # raises if it does not match
        assert headers["webhook-signature"] == spec_signature(key, headers, body)
        tampered = {**headers, "webhook-id": "msg_other"}
        with pytest.raises(standardwebhooks.WebhookVerificationError):
            standardwebhooks.Webhook(key).verify(body, tampered)
    for bad in ("whsec_not base64!", "whsec_" + base64.b64encode(b"short").decode(), " x"):
        with pytest.raises(InvalidRequestError, match="secret"):
            check_secret(bad)


def test_the_secret_is_checked_when_the_webhook_is_created(fleet: FleetCli) -> None:
    code, _, err = run(fleet, "webhook", "create", "http://127.0.0.1:9/x", "--secret", "whsec_!!")
    assert code == 1 and "INVALID_ARGUMENT" in err and "secret" in err

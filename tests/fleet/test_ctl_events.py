"""`okoctl events tail` through real fleet restarts (kill -9 and a clean stop), and `events
query` newest first with --since/--until, in the demo's words (issue 14, item 3)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.ctl import app as ctl_app
from proto.event_text import describe
from proto.oko.v1 import admin_pb2, events_pb2, stream_pb2, stream_pb2_grpc
from proto.transport import bearer_metadata
from tests.fleet import helpers
from tests.fleet.helpers import api_channel
from tests.support.fleet import FleetCli
from tests.support.net import free_port

pytestmark = pytest.mark.timeout(240)
OKOCTL = str(Path(sys.executable).parent / "okoctl")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetCli]:
    server = FleetCli(tmp_path_factory.mktemp("events") / "fleet", free_port(), free_port())
    server.start()
    yield server
    server.stop()


def produce(fleet: FleetCli, events: list[events_pb2.Event]) -> None:
    """Send `events` from a newly enrolled box and wait for the fleet's durable ack."""

    async def go() -> None:
        async with api_channel(fleet.api_port, fleet.ca) as api:
            ident = await helpers.enroll(
                api, await helpers.enrollment_token(api, fleet.admin_token)
            )
        async with ident.channel(fleet.agent_port) as channel:
            stream = helpers.AgentStream(channel)
            stream.send_batch(events)
            await stream.next("ack")
            stream.close()

    asyncio.run(go())


def env_overrides(fleet: FleetCli) -> dict[str, str]:
    return {
        "OKO_FLEET": fleet.api,
        "OKO_TOKEN": fleet.admin_token,
        "OKO_CA_FILE": str(fleet.ca_file),
        "OKOCTL_CONFIG": "/nonexistent/okoctl.yaml",
    }


def env(fleet: FleetCli) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OKO_", "OKOCTL_"))}
    return {**clean, **env_overrides(fleet)}


class Lines:
    """A process's output lines as they come, read by a thread."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.lines) < count:
            assert time.monotonic() < deadline, f"{len(self.lines)} of {count} lines: {self.lines}"
            time.sleep(0.05)


def subscribers(fleet: FleetCli) -> int:
    handle = fleet.handle()
    try:
        return int(handle.admin("GetStatus", admin_pb2.GetStatusRequest()).subscribers)
    finally:
        handle.close()


def test_tail_resumes_by_itself_across_fleet_restarts(fleet: FleetCli) -> None:
    camera = "cam-tail"
    produce(fleet, [helpers.event(camera, 0)])  # before the tail: not shown
    sent = [helpers.event(camera, i, "zone" if i % 2 else "line_crossing") for i in range(1, 7)]
    tail = subprocess.Popen(
        [OKOCTL, "events", "tail", "--camera", camera, "--count", "6", "-o", "json"],
        env=env(fleet),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = Lines(tail.stdout), Lines(tail.stderr)
    deadline = time.monotonic() + 60
    while subscribers(fleet) < 1:  # the tail is subscribed (from the end it read first)
        assert tail.poll() is None and time.monotonic() < deadline, err.lines
        time.sleep(0.1)
    produce(fleet, sent[:2])
    out.wait_for(2)

    fleet.kill()  # a power cut of the fleet process under the tail
    fleet.start()
    produce(fleet, sent[2:4])  # while the tail is still waiting to reconnect
    out.wait_for(4)
    fleet.stop()  # a clean restart too (SIGTERM: streams are ended by the server)
    fleet.start()
    produce(fleet, sent[4:])
    assert tail.wait(timeout=120) == 0, err.lines

    got = [json.loads(line) for line in out.lines]
    assert [e["event"]["event_id"] for e in got] == [e.event_id for e in sent]  # no gap, no dup
    cursors = [e["cursor"] for e in got]
    assert cursors == sorted(set(cursors)) and all(isinstance(c, int) for c in cursors)
    text = "\n".join(err.lines)
    assert text.count("reconnected to") >= 2 and "stream lost" in text


def _at(event: events_pb2.Event, seconds_ago: float) -> events_pb2.Event:
    event.capture_time.FromNanoseconds(int((time.time() - seconds_ago) * 1e9))
    return event


def run_ctl(fleet: FleetCli, *args: str) -> tuple[int, str, str]:
    """okoctl's own app in this process (as the other okoctl tests run it): one-shot commands
    need no process of their own (each would cost a second of imports); `tail`, which must
    outlive fleet restarts, runs as the installed `okoctl` above."""
    unset: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("OKO_", "OKOCTL_"))
    }
    result = CliRunner().invoke(ctl_app, list(args), env={**unset, **env_overrides(fleet)})
    return result.exit_code, result.stdout, result.stderr


def okoctl(fleet: FleetCli, *args: str) -> str:
    code, out, err = run_ctl(fleet, *args)
    assert code == 0, err
    return out


def test_query_is_newest_first_between_since_and_until_in_readable_words(
    fleet: FleetCli,
) -> None:
    camera = "cam-query"
    old = _at(helpers.event(camera, 1), 3 * 3600)  # a line crossing 3 h ago
    middle = _at(helpers.event(camera, 2, "zone"), 90 * 60)
    new = _at(helpers.event(camera, 3, "face"), 10 * 60)
    produce(fleet, [old, middle, new])

    def ids(*args: str) -> list[str]:
        out = okoctl(fleet, "events", "query", "--camera", camera, "-o", "json", *args)
        return [e["event"]["event_id"] for e in json.loads(out)]

    assert ids() == [new.event_id, middle.event_id, old.event_id]
    assert ids("--oldest-first") == [old.event_id, middle.event_id, new.event_id]
    assert ids("--since", "2h") == [new.event_id, middle.event_id]
    assert ids("--since", "2h", "--until", "30m") == [middle.event_id]
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=100)
    rfc3339 = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids("--since", rfc3339) == [new.event_id, middle.event_id]
    plus_two = moment.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    assert ids("--until", plus_two) == [old.event_id]
    assert ids("--limit", "1") == [new.event_id]

    table = okoctl(fleet, "events", "query", "--camera", camera)
    assert "person crossed 'gate'" in table and "enter 'z1'" in table
    for event in (old, middle, new):
        assert describe(event)[1] in table  # the demo's own sentence for each
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["CURSOR", "TIME", "SITE"] and "face" in lines[1]
    named = okoctl(fleet, "events", "query", "--camera", camera, "-o", "name")
    assert named.split() == [f"event/{e.event_id}" for e in (new, middle, old)]

    code, _, err = run_ctl(fleet, "events", "query", "--since", "last tuesday")
    assert code == 2 and "--since 'last tuesday'" in err


def test_newest_first_pages_backwards_without_a_gap(fleet: FleetCli) -> None:
    camera = "cam-pages"
    sent = [helpers.event(camera, i) for i in range(5)]
    produce(fleet, sent)
    handle = fleet.handle()
    stub = stream_pb2_grpc.EventServiceStub(handle.channel())
    request = stream_pb2.QueryRequest(
        filter=stream_pb2.EventFilter(camera_ids=[camera]), newest_first=True, limit=2
    )
    got: list[str] = []
    for _ in range(5):
        page = stub.Query(request, metadata=bearer_metadata(fleet.admin_token), timeout=10)
        got += [e.event.event_id for e in page.events]
        if not page.next_cursor:
            break
        request.before_cursor = page.next_cursor
    handle.close()
    assert got == [e.event_id for e in reversed(sent)]

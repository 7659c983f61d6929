"""Issue 9, defect 10: no log or terminal injection through what a box sends.

Ids (event, camera, line, zone ids, device names, label keys) get the agent's strict id
pattern at admission; free text may not hold control characters; and whatever is in the
store anyway (written before these checks) reaches the operator's terminal escaped: okoctl
prints every box-sent string through one escape function, and rich never reads it as
markup. Fleet log lines quote box-sent values, so a newline cannot forge a line.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import grpc
import pytest
from typer.testing import CliRunner

from fleet.ctl import app as okoctl
from fleet.ctl_output import printable
from fleet.store.records import NewEvent
from proto.oko.v1 import agent_pb2
from tests.fleet.bystanders import Bystanders
from tests.fleet.conftest import Fleet
from tests.fleet.helpers import AgentStream, event, new_device

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
CLEAR_SCREEN = "\x1b[2J"
TITLE = "\x1b]0;owned\x07"


@pytest.fixture
async def watched(fleet: Fleet) -> AsyncIterator[tuple[Fleet, Bystanders]]:
    bystanders = await Bystanders.join(fleet)
    yield fleet, bystanders
    await bystanders.close()


async def test_ids_get_a_strict_character_set_and_text_no_control_characters(
    watched: tuple[Fleet, Bystanders],
) -> None:
    fleet, bystanders = watched
    ident = await new_device(fleet.server, fleet.admin, fleet.ca, name="bad-box")
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        camera = event("cam-1", 1)
        camera.camera_id = "cam" + CLEAR_SCREEN
        line = event("cam-1", 2)
        line.line_crossing.line_id = "gate a"
        zone = event("cam-1", 3, "zone")
        zone.zone.zone_id = "z/../../etc"
        label = event("cam-1", 4)
        label.line_crossing.label = "person" + TITLE
        bidi = event("cam-1", 5)
        bidi.line_crossing.direction_name = "north\u202ehtuos"
        event_id = event("cam-1", 6)
        event_id.event_id = "id\nFAKE"
        spaced = event("cam-1", 7)
        spaced.line_crossing.label = "traffic light"  # COCO class names have spaces: fine
        stream.send_batch([camera, line, zone, label, bidi, event_id, spaced])
        ack = (await stream.next("ack")).ack
        reasons = [r.reason for r in ack.rejected]
        assert ack.accepted == 1 and len(reasons) == 6
        assert reasons[0].startswith("camera_id 'cam\\x1b[2J' is not an id")
        assert reasons[1].startswith("line_crossing.line_id 'gate a' is not an id")
        assert reasons[2].startswith("zone.zone_id 'z/../../etc' is not an id")
        assert "line_crossing.label 'person\\x1b]0;owned\\x07' contains control" in reasons[3]
        assert "direction_name 'north\\u202ehtuos' contains control" in reasons[4]
        assert reasons[5].startswith("event_id 'id\\nFAKE' is not an id")
        assert all(r.isprintable() for r in reasons)  # a reason is safe to log and print
        stream.close()
    await bystanders.still_served()


async def test_fleet_log_lines_cannot_be_forged(
    fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca, name="box-9")
    with caplog.at_level(logging.DEBUG, logger="fleet"):
        async with ident.channel(fleet.server.agent_port) as channel:
            stream = AgentStream(channel, hello=False)
            stream.send(
                agent_pb2.AgentMessage(
                    hello=agent_pb2.Hello(agent_version="1.0\n2026-12-01 INFO fleet: admin ok")
                )
            )
            with pytest.raises(grpc.aio.AioRpcError):
                await stream.next("welcome")
            stream.close()
            await asyncio.sleep(0)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("fleet")]
    assert any("hello.agent_version" in m for m in messages)
    assert all("\n" not in m for m in messages)


def _okoctl(fleet: Fleet, *args: str) -> str:
    env = {
        "OKO_FLEET": f"localhost:{fleet.server.api_port}",
        "OKO_TOKEN": fleet.admin,
        "OKO_CA_FILE": str(fleet.data_dir / "ca" / "ca.pem"),
        "COLUMNS": "300",
    }
    result = CliRunner().invoke(okoctl, list(args), env=env)
    assert result.exit_code == 0, result.stderr
    return result.stdout


async def test_okoctl_escapes_what_a_box_wrote_before_the_checks(fleet: Fleet) -> None:
    """Legacy rows (stored by a fleet without these checks) reach the terminal escaped."""
    ident = await new_device(fleet.server, fleet.admin, fleet.ca, name="old-box")
    msg = event("cam-1", 1)
    msg.camera_id = "cam" + CLEAR_SCREEN
    msg.line_crossing.label = "[bold red]markup[/]" + TITLE
    msg.device_id, msg.site = ident.device_id, "site-a"
    stored = NewEvent(
        msg.event_id,
        ident.device_id,
        msg.camera_id,
        "site-a",
        "line_crossing",
        msg.capture_time.seconds * 1_000_000,
        msg.SerializeToString(),
    )
    assert (await fleet.server.app.ingestor.submit([stored])).accepted == 1
    await fleet.server.app.store.record_hello(ident.device_id, "2.0" + TITLE, 1)

    lines = await asyncio.to_thread(_okoctl, fleet, "events", "query")
    tail = await asyncio.to_thread(_okoctl, fleet, "events", "tail", "--from-start", "--count", "1")
    shown = await asyncio.to_thread(_okoctl, fleet, "device", "show", ident.device_id)
    as_json = await asyncio.to_thread(_okoctl, fleet, "--json", "events", "query")
    for out in (lines, tail, shown, as_json):
        assert "\x1b" not in out and "\x07" not in out
    assert "cam\\x1b[2J" in lines and "cam\\x1b[2J" in tail
    assert "[bold red]markup[/]" in lines  # printed literally, never styled
    assert "2.0\\x1b]0;owned\\x07" in shown
    assert json.loads(as_json)[0]["event"]["camera_id"] == msg.camera_id  # exact, for scripts


def test_the_escape_function() -> None:
    assert printable("cam-1 ok ü") == "cam-1 ok ü"
    assert printable("a\x1b[31mb\x9bc\u202ed\r\n") == "a\\x1b[31mb\\x9bc\\u202ed\\r\\n"
    assert printable("line 1\nline 2", newlines=True) == "line 1\nline 2"

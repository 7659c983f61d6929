"""Issue 9, defect 3: a far-future time already in the store breaks nothing.

Admission refuses such times now (defect 1), but a store written before holds them: an
event captured in year 33658 used to make its webhook retry forever (two tracebacks a
second) and `okoctl events query/tail` fail. The event is put in the store the way the old
fleet did (through the real ingest path, past admission), then webhooks, okoctl and the
fleet's listings are driven for real.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.ctl import app as okoctl
from fleet.store.records import NewEvent
from proto.oko.v1 import admin_pb2, agent_pb2
from proto.transport import bearer_metadata
from tests.fleet.conftest import Fleet, running_fleet
from tests.fleet.helpers import AgentStream, admin_stub, event, new_device
from tests.fleet.test_webhooks import Receiver

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
YEAR_33658 = 10**12  # seconds


async def _legacy_event(fleet: Fleet, device_id: str) -> str:
    """An event with a year-33658 capture time, stored as the fleet before the fix did."""
    msg = event("cam-1", 99)
    msg.capture_time.seconds, msg.capture_time.nanos = YEAR_33658, 0
    msg.device_id, msg.site = device_id, "site-a"
    new = NewEvent(
        msg.event_id,
        device_id,
        "cam-1",
        "site-a",
        "line_crossing",
        YEAR_33658 * 1_000_000,
        msg.SerializeToString(),
    )
    outcome = await fleet.server.app.ingestor.submit([new])
    assert outcome.accepted == 1
    return msg.event_id


def _okoctl(fleet: Fleet, *args: str) -> tuple[int, str, str]:
    env = {
        "OKO_FLEET": f"localhost:{fleet.server.api_port}",
        "OKO_TOKEN": fleet.admin,
        "OKO_CA_FILE": str(fleet.data_dir / "ca" / "ca.pem"),
        "COLUMNS": "250",
    }
    result = CliRunner().invoke(okoctl, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


async def _dead_letters(fleet: Fleet) -> int:
    status = await admin_stub(fleet.api).GetStatus(
        admin_pb2.GetStatusRequest(), metadata=bearer_metadata(fleet.admin)
    )
    return status.webhook_dead_letters


async def test_webhooks_dead_letter_a_far_future_event_once_and_deliver_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver()
    settings = {"webhook_attempts": 2, "webhook_backoff_s": 0.05}
    async with running_fleet(tmp_path / "f", **settings) as fleet:
        await admin_stub(fleet.api).CreateWebhook(
            admin_pb2.CreateWebhookRequest(url=receiver.url, secret="k"),
            metadata=bearer_metadata(fleet.admin),
        )
        ident = await new_device(fleet.server, fleet.admin, fleet.ca)
        before, after = event("cam-1", 1), event("cam-1", 2)
        async with ident.channel(fleet.server.agent_port) as channel:
            stream = AgentStream(channel)
            stream.send_batch([before])
            await stream.next("ack")
            with caplog.at_level(logging.INFO, logger="fleet.webhooks"):
                legacy = await _legacy_event(fleet, ident.device_id)
                stream.send_batch([after])
                await stream.next("ack")
                for _ in range(200):
                    if len(receiver.delivered_ids()) >= 2 and await _dead_letters(fleet):
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1.0)  # time for any retry loop to show itself
            stream.close()
        assert receiver.delivered_ids() == [before.event_id, after.event_id]
        assert await _dead_letters(fleet) == 1
        assert legacy not in receiver.delivered_ids()
    receiver.close()
    tracebacks = [r for r in caplog.records if r.exc_info]
    warnings = [r for r in caplog.records if "cannot encode" in r.getMessage()]
    assert tracebacks == [] and len(warnings) == 1


async def test_okoctl_and_listings_show_a_far_future_time_instead_of_failing(
    fleet: Fleet,
) -> None:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        stream.send(
            agent_pb2.AgentMessage(
                heartbeat=agent_pb2.Heartbeat(cameras=[agent_pb2.CameraHealth(camera_id="cam-1")])
            )
        )
        good = event("cam-1", 1)
        stream.send_batch([good])
        await stream.next("ack")
        legacy = await _legacy_event(fleet, ident.device_id)

        code, out, err = await asyncio.to_thread(_okoctl, fleet, "events", "query")
        assert code == 0, err
        assert f"@{YEAR_33658}" in out
        assert any(line.split()[4:6] == ["cam-1", "line_crossing"] for line in out.splitlines())
        code, out, err = await asyncio.to_thread(_okoctl, fleet, "--json", "events", "query")
        assert code == 0, err
        shown = {e["event"]["event_id"]: e["event"]["capture_time"] for e in json.loads(out)}
        assert shown[legacy] == {
            "seconds": YEAR_33658,
            "nanos": 0,
            "invalid": "out of range",
        }
        assert isinstance(shown[good.event_id], str)  # ordinary times stay RFC 3339
        code, out, err = await asyncio.to_thread(
            _okoctl, fleet, "--json", "events", "tail", "--from-start", "--count", "2"
        )
        assert code == 0, err
        assert [json.loads(line)["event"]["event_id"] for line in out.splitlines()] == [
            good.event_id,
            legacy,
        ]
        for args in (("camera", "list"), ("device", "show", ident.device_id), ("device", "list")):
            code, out, err = await asyncio.to_thread(_okoctl, fleet, *args)
            assert code == 0, (args, err)
        stream.close()

"""okoctl against a real `oko-fleet serve` process: tables for people, --json for scripts,
one clear error line and exit code 1 for refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.identity import AgentStore
from agent.uplink.enroll import enroll
from fleet.ctl import app
from proto.oko.v1 import events_pb2
from tests.fleet import helpers
from tests.fleet.helpers import api_channel
from tests.support.fleet import FleetCli
from tests.support.net import free_port

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetCli]:
    server = FleetCli(tmp_path_factory.mktemp("ctl") / "fleet", free_port(), free_port())
    server.start()
    yield server
    server.stop()


def ctl(fleet: FleetCli, *args: str, token: str = "") -> tuple[int, str, str]:
    env = {
        "OKO_FLEET": fleet.api,
        "OKO_TOKEN": token or fleet.admin_token,
        "OKO_CA_FILE": str(fleet.data_dir / "ca" / "ca.pem"),
        "COLUMNS": "200",
    }
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def ok_json(fleet: FleetCli, *args: str) -> object:
    code, out, err = ctl(fleet, "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_tokens_enrollment_and_device_views(fleet: FleetCli, tmp_path: Path) -> None:
    code, token, err = ctl(fleet, "token", "create", "--site", "depot", "--ttl", "1h")
    assert code == 0 and token.startswith("oko1.") and "CA sha256" in err
    store = AgentStore(tmp_path / "box")
    identity = enroll(store, fleet.api, token.strip(), device_name="depot-gate")
    store.close()

    devices = ok_json(fleet, "device", "list")
    assert isinstance(devices, list)
    mine = [d for d in devices if d["device_id"] == identity.device_id]
    assert mine and mine[0]["site"] == "depot" and mine[0]["status"] == "offline"
    code, out, _ = ctl(fleet, "device", "list")
    assert code == 0 and "depot-gate" in out
    code, out, _ = ctl(fleet, "device", "show", identity.device_id)
    assert code == 0 and "depot" in out

    code, _, err = ctl(fleet, "token", "create", "--site", "depot", "--ttl", "soon")
    assert code == 2 and "duration" in err


def test_roles_and_errors_are_one_line(fleet: FleetCli) -> None:
    code, viewer, _ = ctl(fleet, "token", "create-api", "--name", "wall", "--role", "viewer")
    assert code == 0
    code, out, err = ctl(fleet, "status", token=viewer.strip())
    assert code == 0 and "events stored" in out
    code, _, err = ctl(fleet, "token", "create", "--site", "x", token=viewer.strip())
    assert code == 1 and err.strip().startswith("error: PERMISSION_DENIED")
    code, _, err = ctl(fleet, "status", token="okoa.0011223344556677.nope")
    assert code == 1 and "UNAUTHENTICATED" in err
    code, _, err = ctl(fleet, "device", "show", "dev-missing")
    assert code == 1 and "NOT_FOUND" in err


def test_config_set_get_apply(fleet: FleetCli, tmp_path: Path) -> None:
    code, token, _ = ctl(fleet, "token", "create", "--site", "cfg")
    store = AgentStore(tmp_path / "box")
    device_id = enroll(store, fleet.api, token.strip(), device_name="cfg-box").device_id
    store.close()
    good = tmp_path / "box.yaml"
    good.write_text("cameras:\n  - id: cam-1\n    source: rtsp://10.1.1.1/s\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras:\n  - id: cam-1\n    source: rtsp://x\n    detect_fps: 0\n")

    code, out, _ = ctl(fleet, "config", "set", device_id, "-f", str(good))
    assert code == 0 and "version 1" in out
    code, _, err = ctl(fleet, "config", "set", device_id, "-f", str(bad))
    assert code == 1 and "INVALID_ARGUMENT" in err and "detect_fps" in err
    view = ok_json(fleet, "config", "get", device_id)
    assert isinstance(view, dict)
    assert view["rendered"]["version"] == 1 and view["drift"] is True  # a number, not "1"

    many = tmp_path / "apply.yaml"
    many.write_text(
        f"device: {device_id}\ncamera: cam-2\nconfig:\n  source: rtsp://10.1.1.2/s\n---\n"
        f"device: {device_id}\ncamera: cam-3\nconfig:\n  source: rtsp://x\n  detect_fps: -3\n"
    )
    code, out, _ = ctl(fleet, "config", "apply", "-f", str(many))
    assert code == 1 and "cam-2: version 2" in out and "cam-3: REFUSED" in out
    code, out, _ = ctl(fleet, "config", "get", device_id)
    assert code == 0 and "cam-2" in out and "cam-3" not in out


async def _produce(fleet: FleetCli, events: list[events_pb2.Event]) -> None:
    async with api_channel(int(fleet.api.rsplit(":", 1)[1]), fleet.ca) as api:
        ident = await helpers.enroll(api, await helpers.enrollment_token(api, fleet.admin_token))
    async with ident.channel(fleet.agent_port) as channel:
        stream = helpers.AgentStream(channel)
        stream.send_batch(events)
        await stream.next("ack")
        stream.close()


def test_events_query_tail_and_revoke(fleet: FleetCli, tmp_path: Path) -> None:
    sent = [helpers.event("cam-q", i, "face" if i % 2 else "zone") for i in range(6)]
    asyncio.run(_produce(fleet, sent))
    faces = ok_json(
        fleet, "events", "query", "--since", "1h", "--camera", "cam-q", "--type", "face"
    )
    assert isinstance(faces, list)
    # Newest first by default.
    assert [e["event"]["event_id"] for e in faces] == [e.event_id for e in sent[1::2]][::-1]
    code, out, _ = ctl(
        fleet, "--json", "events", "tail", "--from-start", "--camera", "cam-q", "--count", "6"
    )
    assert code == 0
    assert [json.loads(line)["event"]["event_id"] for line in out.splitlines()] == [
        e.event_id for e in sent
    ]
    code, out, _ = ctl(fleet, "events", "tail", "--from-start", "--camera", "cam-q", "--count", "1")
    assert code == 0 and out.splitlines()[1].split()[4:6] == ["cam-q", "zone"]
    code, _, err = ctl(fleet, "events", "query", "--type", "faces")
    assert code == 1 and "faces" in err
    code, token, _ = ctl(fleet, "token", "create", "--site", "rv")
    store = AgentStore(tmp_path / "box")
    device_id = enroll(store, fleet.api, token.strip(), device_name="rv-box").device_id
    store.close()
    code, out, _ = ctl(fleet, "device", "revoke", device_id, "--reason", "lost")
    assert code == 0 and "revoked" in out
    shown = ok_json(fleet, "device", "show", device_id)
    assert isinstance(shown, dict)
    assert shown["status"] == "revoked" and shown["revoked_reason"] == "lost"
    status = ok_json(fleet, "status")
    assert isinstance(status, dict) and int(status["devices_revoked"]) >= 1

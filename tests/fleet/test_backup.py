"""`oko-fleet backup` of a live fleet and `oko-fleet restore` into a fresh data directory:
the restored fleet serves the same events, tokens and boxes (issue 9, defect 13)."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.cli import app as oko_fleet
from proto.oko.v1 import admin_pb2, events_pb2, stream_pb2
from proto.transport import bearer_metadata
from tests.fleet.conftest import Fleet, running_fleet
from tests.fleet.helpers import AgentStream, admin_stub, event, event_stub, new_device

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(oko_fleet, list(args))
    return result.exit_code, result.stdout, result.stderr


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _query(fleet: Fleet, token: str) -> list[str]:
    reply = await event_stub(fleet.api).Query(
        stream_pb2.QueryRequest(limit=1000), metadata=bearer_metadata(token), timeout=10
    )
    return [e.event.event_id for e in reply.events]


async def test_backup_of_a_live_fleet_restores_into_a_working_fleet(tmp_path: Path) -> None:
    backup_dir = tmp_path / "backups" / "monday"
    async with running_fleet(tmp_path / "fleet") as fleet:
        ident = await new_device(fleet.server, fleet.admin, fleet.ca)
        sent: list[events_pb2.Event] = [event("cam-1", i) for i in range(1, 201)]
        async with ident.channel(fleet.server.agent_port) as channel:
            box = AgentStream(channel)
            box.send_batch(sent[:100])
            await box.next("ack")
            # The backup runs while the box keeps sending (blocking: in a thread).
            backup_task = asyncio.create_task(
                asyncio.to_thread(
                    _cli, "backup", str(backup_dir), "--data-dir", str(fleet.data_dir)
                )
            )
            box.send_batch(sent[100:])
            await box.next("ack")
            code, out, err = await backup_task
            assert code == 0, err
            assert "devices and the CA" in out
            box.close()
        stored = await _query(fleet, fleet.admin)
        assert len(stored) == 200
        ca_pem = fleet.ca

    assert _mode(backup_dir) == 0o700 and _mode(backup_dir / "ca") == 0o700
    files = [p for p in backup_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"fleet.db", "ca.key", "ca.pem", "manifest.json"}
    assert all(_mode(p) == 0o600 for p in files), {p.name: oct(_mode(p)) for p in files}
    assert not list(backup_dir.glob("fleet.db-*"))  # one self-contained file, no WAL

    restored = tmp_path / "restored"
    code, out, err = _cli("restore", str(backup_dir), "--data-dir", str(restored))
    assert code == 0, err
    assert "oko-fleet serve --data-dir" in out
    async with running_fleet(restored) as again:
        assert again.ca == ca_pem and again.admin == ""  # not a first start: no new token
        got = await _query(again, fleet.admin)  # the old admin token still works
        # Everything acknowledged before the backup began is there, in the same order.
        assert got[:100] == [e.event_id for e in sent[:100]]
        assert set(got) <= {e.event_id for e in sent}
        device = await admin_stub(again.api).GetDevice(
            admin_pb2.GetDeviceRequest(device_id=ident.device_id),
            metadata=bearer_metadata(fleet.admin),
            timeout=10,
        )
        assert device.device_id == ident.device_id
        # The box's certificate is still good, and a resend is deduplicated.
        async with ident.channel(again.server.agent_port) as channel:
            box = AgentStream(channel)
            box.send_batch(sent)
            ack = (await box.next("ack")).ack
            assert ack.accepted + ack.duplicates == 200 and ack.duplicates >= 100
            box.close()
        assert sorted(await _query(again, fleet.admin)) == sorted(stored)


async def test_restore_refuses_damaged_backups_and_busy_targets(
    fleet: Fleet, tmp_path: Path
) -> None:
    backup_dir = tmp_path / "copy"
    code, _, err = await asyncio.to_thread(
        _cli, "backup", str(backup_dir), "--data-dir", str(fleet.data_dir)
    )
    assert code == 0, err

    code, _, err = _cli("backup", str(backup_dir), "--data-dir", str(fleet.data_dir))
    assert code == 1 and "must be a new or empty directory" in err

    code, _, err = _cli("restore", str(backup_dir), "--data-dir", str(fleet.data_dir))
    assert code == 1 and "must be a new or empty directory" in err

    key = backup_dir / "ca" / "ca.key"
    key.write_bytes(key.read_bytes().replace(b"A", b"B", 1))
    target = tmp_path / "target"
    code, _, err = _cli("restore", str(backup_dir), "--data-dir", str(target))
    assert code == 1
    assert err.strip() == f"error: {key}: SHA-256 differs from the manifest (damaged or edited)"
    assert not target.exists()

    code, _, err = _cli("backup", str(tmp_path / "x"), "--data-dir", str(tmp_path / "nothing"))
    assert code == 1 and "no fleet here" in err and len(err.strip().splitlines()) == 1
    code, _, err = _cli("restore", str(tmp_path / "nothing"), "--data-dir", str(target))
    assert code == 1 and "not an oko-fleet backup" in err

"""`oko-fleet backup --store postgresql://...` of a live fleet and `restore` into an empty
database: the restored fleet serves the same events and knows the same boxes.

Real processes: `oko-fleet serve` on PostgreSQL, a box's mTLS stream sending while the
backup (pg_dump) runs, `oko-fleet restore` (pg_restore) into a new database, a second
fleet on it. Refusals: a database that is not empty, a PostgreSQL backup without
--store, a dump edited after the backup.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.cli import app as oko_fleet
from tests.fleet.helpers import AgentStream, api_channel, enroll, enrollment_token, event
from tests.support.fleet import FleetCli
from tests.support.net import free_port
from tests.support.pg import shared_cluster, store_url_for

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _cli_sync(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(oko_fleet, list(args))
    return result.exit_code, result.stdout + result.stderr


async def _cli(*args: str) -> tuple[int, str]:
    """The CLI as an operator runs it: in its own thread, off this test's event loop."""
    return await asyncio.to_thread(_cli_sync, *args)


def _empty_database() -> str:
    cluster = shared_cluster()
    name = "restore_" + uuid.uuid4().hex[:12]
    cluster.create_database(name)
    return cluster.dsn_for(name)


async def test_a_live_postgresql_fleet_backs_up_and_restores_into_a_working_fleet(
    tmp_path: Path,
) -> None:
    url = store_url_for(str(tmp_path / "fleet"))
    fleet = FleetCli(tmp_path / "fleet", free_port(), free_port())
    fleet.args += ["--store", url]
    fleet.start()
    backup_dir = tmp_path / "backup"
    try:
        async with api_channel(fleet.api_port, fleet.ca) as channel:
            box = await enroll(channel, await enrollment_token(channel, fleet.admin_token), "b1")
        async with box.channel(fleet.agent_port) as channel:
            stream = AgentStream(channel)
            stream.send_batch([event("cam-1", i) for i in range(1, 101)])
            assert (await stream.next("ack")).ack.accepted == 100
            backup = ("backup", str(backup_dir), "--data-dir", str(fleet.data_dir))
            backing_up = asyncio.create_task(_cli(*backup, "--store", url))
            stream.send_batch([event("cam-1", i) for i in range(101, 151)])  # meanwhile
            assert (await stream.next("ack")).ack.accepted == 50
            code, out = await backing_up
            assert code == 0, out
            stream.close()
    finally:
        fleet.stop()
    assert (backup_dir / "store.pgdump").stat().st_mode & 0o077 == 0
    assert (backup_dir / "ca" / "ca.key").is_file()
    assert (backup_dir / "audit-checkpoint-key.pem").is_file()

    target = _empty_database()
    code, out = await _cli("restore", str(backup_dir), "--data-dir", str(tmp_path / "new"))
    assert code != 0 and "needs --store" in out  # a dump restores into a database only
    code, out = await _cli(
        "restore", str(backup_dir), "--data-dir", str(tmp_path / "new"), "--store", target
    )
    assert code == 0, out
    restored_events = int(out.split("restored ")[1].split(" events")[0])
    assert restored_events in (100, 150)  # the snapshot: before or after the second batch
    code, out = await _cli(
        "restore", str(backup_dir), "--data-dir", str(tmp_path / "again"), "--store", target
    )
    assert code != 0 and "restore into a new, empty database" in out

    again = FleetCli(tmp_path / "new", free_port(), free_port())
    again.args += ["--store", target]
    again.start()
    try:
        again.admin_token = fleet.admin_token  # the same tokens: the same store
        ids = [e.event.event_id for e in again.handle().events()]
        assert len(ids) == restored_events
        async with box.channel(again.agent_port) as channel:  # the same CA: the box is known
            stream = AgentStream(channel)
            assert (await stream.next("welcome")).welcome.device_id == box.device_id
            stream.close()
    finally:
        again.stop()

    dump = backup_dir / "store.pgdump"
    dump.chmod(0o600)
    with dump.open("r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00")
    code, out = await _cli(
        "restore", str(backup_dir), "--data-dir", str(tmp_path / "third"), "--store",
        _empty_database(),
    )  # fmt: skip
    assert code != 0 and "store.pgdump: SHA-256 differs" in out

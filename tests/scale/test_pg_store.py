"""The PostgreSQL store's own guarantees: migrations, cross-replica dedupe and cursor order,
day partitions, leases. (The Store contract itself runs on both stores in tests/fleet:
the [postgresql] store tests, and the whole fleet suite with OKO_TEST_STORE=postgresql.)"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from fleet.errors import StoreError
from fleet.leases import Lease
from fleet.store import pg_migrate
from fleet.store.pg import PostgresStore
from fleet.store.pg_events import US_PER_DAY, day_of
from fleet.store.records import EventQuery, NewEvent, PurgeRule
from tests.support.pg import shared_cluster, store_url_for

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _empty_database() -> str:
    cluster = shared_cluster()
    name = "e_" + uuid.uuid4().hex[:12]
    cluster.create_database(name)
    return cluster.dsn_for(name)


def _migrate_cli(url: str, *more: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleet.cli", "migrate", "--store", url, *more],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
async def store() -> AsyncIterator[PostgresStore]:
    opened = await PostgresStore.open(store_url_for(uuid.uuid4().hex))
    try:
        yield opened
    finally:
        await opened.close()


def _new(event_id: str, camera: str = "cam-1") -> NewEvent:
    return NewEvent(event_id, "dev-1", camera, "site-a", "zone", 1_000_000, b"x" * 50)


async def test_migrate_from_empty_then_again_is_a_no_op_and_serve_refuses_an_unmigrated_db() -> (
    None
):
    url = _empty_database()
    with pytest.raises(StoreError, match="oko-fleet migrate"):
        await PostgresStore.open(url)
    first = _migrate_cli(url)
    assert first.returncode == 0, first.stderr
    assert f"from revision none to {pg_migrate.head_revision()}" in first.stdout
    again = _migrate_cli(url)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    opened = await PostgresStore.open(url)
    await opened.close()


@pytest.mark.timeout(360)  # two `oko-fleet migrate` processes per revision
async def test_migrate_from_every_previous_revision_keeps_the_data() -> None:
    """A database at each older revision, with rows in it, upgraded to the newest."""
    revisions = pg_migrate.revisions()
    assert revisions[0] == "0001"
    for previous in revisions[:-1] or revisions:
        url = _empty_database()
        assert _migrate_cli(url, "--revision", previous).returncode == 0
        conn = await asyncpg.connect(url)
        try:  # rows of tables every revision has had since 0001
            await conn.execute(
                "INSERT INTO api_tokens (token_id, name, role, secret_hash, created_us)"
                " VALUES ('t1', 'old', 3, 'h', 1)"
            )
            await conn.execute("UPDATE event_counter SET value = 41")
        finally:
            await conn.close()
        upgraded = _migrate_cli(url)
        assert upgraded.returncode == 0, upgraded.stderr
        opened = await PostgresStore.open(url)
        try:
            assert [t.name for t in await opened.list_api_tokens()] == ["old"]
            commit = await opened.ingest([[_new("after-upgrade")]], 1_000_000)
            assert commit.last_cursor == 42  # cursors go on from where they were
        finally:
            await opened.close()


async def test_a_bad_url_and_an_unreachable_server_are_named() -> None:
    bad = _migrate_cli("mysql://nope")
    assert bad.returncode == 2 and "postgresql://" in bad.stderr
    down = _migrate_cli("postgresql://postgres:secret@127.0.0.1:1/x")
    assert down.returncode == 1 and "cannot reach" in down.stderr
    assert "secret" not in down.stderr  # the password never reaches a log or a terminal


async def test_two_replicas_ingesting_the_same_events_store_each_once_in_commit_order() -> None:
    url = store_url_for(uuid.uuid4().hex)
    a, b = await PostgresStore.open(url), await PostgresStore.open(url)
    try:
        ids = [f"e-{i}" for i in range(2000)]
        groups = [[[_new(i) for i in ids[s : s + 100]]] for s in range(0, 2000, 100)]
        # Both replicas get every batch (a box retried on the other one), interleaved.
        commits = await asyncio.gather(
            *(store.ingest(g, 1_000_000) for g in groups for store in (a, b))
        )
        assert sum(c.outcomes[0].accepted for c in commits) == 2000
        assert sum(c.outcomes[0].duplicates for c in commits) == 2000
        stored = await a.read_events(EventQuery(limit=10_000))
        assert sorted(e.event_id for e in stored) == sorted(ids)
        assert [e.cursor for e in stored] == list(range(1, 2001))  # dense, no gaps
        # A commit's cursors are one run, and runs follow each other without overlap.
        runs = sorted((c.stored[0].cursor, c.stored[-1].cursor) for c in commits if c.stored)
        assert all(r[1] + 1 == n[0] for r, n in itertools.pairwise(runs))
        assert await b.last_cursor() == 2000
    finally:
        await a.close()
        await b.close()


async def test_events_land_in_day_partitions_and_empty_old_days_are_dropped(
    store: PostgresStore,
) -> None:
    day = day_of(1_900_000_000_000_000)
    for n, offset in enumerate((0, 1, 2)):
        at = (day + offset) * US_PER_DAY + 5
        await store.ingest([[_new(f"d-{n}")]], at)
    parts = await store._read(
        lambda c: c.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'events'::regclass"
        )
    )
    names = {r[0] for r in parts}
    assert {f"events_d{day}", f"events_d{day + 1}", f"events_d{day + 2}"} <= names
    step = await store.purge_events(
        PurgeRule(frozenset(), exclude=True), (day + 2) * US_PER_DAY, 100
    )
    assert step.deleted == 2 and step.done
    parts = await store._read(
        lambda c: c.fetch("SELECT relname FROM pg_class WHERE relname LIKE 'events_d%'")
    )
    left = {r[0] for r in parts}
    assert f"events_d{day}" not in left and f"events_d{day + 1}" not in left
    assert f"events_d{day + 2}" in left
    # The purged ids may come again (as on SQLite): dedupe covers what is stored.
    again = await store.ingest([[_new("d-0")]], (day + 2) * US_PER_DAY + 9)
    assert again.outcomes[0].accepted == 1


async def test_one_lease_holder_at_a_time_and_a_released_lease_moves_at_once(
    store: PostgresStore,
) -> None:
    states: dict[str, list[bool]] = {"r1": [], "r2": []}

    def recorder(name: str):
        async def changed(held: bool) -> None:
            states[name].append(held)

        return changed

    one = Lease(store, "job", "r1", recorder("r1"), ttl_s=1.5)
    two = Lease(store, "job", "r2", recorder("r2"), ttl_s=1.5)
    await one.start()
    await two.start()
    await asyncio.sleep(1.2)
    assert one.held and not two.held
    await one.stop()  # releases: r2 takes it on its next renewal, within ttl/3
    await asyncio.sleep(1.0)
    assert two.held and states == {"r1": [True, False], "r2": [True]}
    await two.stop()

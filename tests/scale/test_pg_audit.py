"""The audit chain under concurrent appends from two replicas' stores (group commit,
fleet/store/pg_audit.py): one valid chain, each replica's entries in the order they were
made, and an entry the database refuses fails alone."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import pytest

from fleet.errors import StoreValueError
from fleet.store.pg import PostgresStore
from fleet.store.records import AuditEntry
from fleet.watchlists.records import AuditQuery
from tests.support.pg import store_url_for

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_concurrent_appends_from_two_replicas_make_one_valid_chain() -> None:
    url = store_url_for(uuid.uuid4().hex)
    a, b = await PostgresStore.open(url), await PostgresStore.open(url)
    try:
        entries = {
            name: [AuditEntry("ops", "config.set", f"{name}-{i}", "v2", i) for i in range(150)]
            for name in ("a", "b")
        }
        await asyncio.gather(
            *(a.audit(e) for e in entries["a"]), *(b.audit(e) for e in entries["b"])
        )
        assert await a.verify_audit() == 300
        rows = await a.list_audit(AuditQuery(limit=1000))
        assert len(rows) == 300
        for name in ("a", "b"):
            mine = [r.target for r in rows if r.target.startswith(f"{name}-")]
            assert mine == [e.target for e in entries[name]]
        for before, after in itertools.pairwise(rows):
            assert after.prev_hash == before.hash
    finally:
        await a.close()
        await b.close()


async def test_an_entry_the_database_refuses_fails_alone() -> None:
    store = await PostgresStore.open(store_url_for(uuid.uuid4().hex))
    try:
        good = [AuditEntry("ops", "config.set", f"dev-{i}", "v2", i) for i in range(20)]
        bad = AuditEntry("ops", "config.set", "dev-bad", "nul \x00 byte", 99)
        results = await asyncio.gather(
            *(store.audit(e) for e in good[:10]),
            store.audit(bad),
            *(store.audit(e) for e in good[10:]),
            return_exceptions=True,
        )
        assert isinstance(results[10], StoreValueError)
        assert [r for i, r in enumerate(results) if i != 10] == [None] * 20
        assert await store.verify_audit() == 20
        rows = await store.list_audit(AuditQuery(limit=100))
        assert [r.target for r in rows] == [e.target for e in good]
    finally:
        await store.close()

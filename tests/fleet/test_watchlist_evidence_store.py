"""Alert evidence in the real SQLite store: requests, answers once, retention with the alert.

Retention runs with an injected clock, as in test_retention.py: no test waits for time.
"""

from __future__ import annotations

import itertools
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from fleet.config import RetentionSettings
from fleet.retention import RetentionTask
from fleet.store.base import Store
from fleet.store.pg import PostgresStore
from fleet.store.sqlite import SqliteStore
from fleet.watchlists.evidence_records import (
    PENDING,
    PRESENT,
    UNAVAILABLE,
    EvidenceAnswer,
    EvidenceRequestRecord,
)
from fleet.watchlists.records import AlertRecord

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

NOW = 1_900_000_000_000_000
DAY = 24 * 3_600_000_000
JPEG = b"\xff\xd8 stands in for an image \xff\xd9"
_TRACKS = itertools.count(1)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(any_store: Store) -> AsyncIterator[Store]:
    """Both stores (tests/fleet/conftest.py STORES): evidence is a store contract."""
    yield any_store


async def _forget_request(store: Store, tmp_path: Path, alert_id: str) -> None:
    """Delete an alert's evidence row behind the store's back (a fleet that predates it)."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(tmp_path / "store" / "fleet.db") as db:
            db.execute("DELETE FROM alert_evidence WHERE alert_id = ?", (alert_id,))
        return
    assert isinstance(store, PostgresStore)
    conn = await asyncpg.connect(store.url)
    try:
        await conn.execute("DELETE FROM alert_evidence WHERE alert_id = $1", alert_id)
    finally:
        await conn.close()


def _alert(raised_us: int, device_id: str = "box-1") -> AlertRecord:
    return AlertRecord(
        alert_id=str(uuid.uuid4()),
        state="candidate",
        watchlist="wl",
        subject_id="s1",
        subject_name="Ada",
        score=0.9,
        face_event_id=str(uuid.uuid4()),
        device_id=device_id,
        camera_id="cam-a",
        site="site-a",
        track_id=next(_TRACKS),
        raised_us=raised_us,
    )


def _present(at_us: int) -> EvidenceAnswer:
    return EvidenceAnswer(PRESENT, "", at_us, JPEG, "ab" * 32, 112, 112, at_us - 5)


async def _requests(store: Store, *alerts: AlertRecord) -> list[EvidenceRequestRecord]:
    for alert in alerts:
        assert await store.add_alert(alert)
    pending = {r.alert_id: r for r in await store.pending_evidence(alerts[0].device_id, 100)}
    return [pending[a.alert_id] for a in alerts]


async def test_every_alert_comes_with_a_request_answered_once(store: Store, tmp_path: Path) -> None:
    a, b, c = (_alert(NOW - 10 + i) for i in range(3))
    ra, rb, rc = await _requests(store, a, b, c)
    assert (ra.camera_id, ra.track_id, ra.face_event_id) == (
        a.camera_id,
        a.track_id,
        a.face_event_id,
    )
    assert (
        ra.requested_us == a.raised_us and len({ra.request_id, rb.request_id, rc.request_id}) == 3
    )
    assert not await store.add_alert(a)  # the same track and subject again: nothing new
    assert [r.alert_id for r in await store.pending_evidence("box-1", 10)] == [
        a.alert_id,
        b.alert_id,
        c.alert_id,
    ]
    assert [r.alert_id for r in await store.pending_evidence("box-1", 2)] == [
        a.alert_id,
        b.alert_id,
    ]
    assert await store.pending_evidence("box-2", 10) == []

    assert await store.answer_evidence(ra.request_id, _present(NOW + 10))
    assert not await store.answer_evidence(ra.request_id, _present(NOW + 11))  # answered
    gone = EvidenceAnswer(UNAVAILABLE, "deleted after retention", NOW + 12)
    assert await store.answer_evidence(rb.request_id, gone)
    assert not await store.answer_evidence("no-such-request", gone)

    found = await store.get_alert_evidence(a.alert_id)
    assert found is not None
    jpeg, meta = found
    assert jpeg == JPEG and meta.state == PRESENT and meta.request == ra
    assert (meta.width, meta.height, meta.size_bytes) == (112, 112, len(JPEG))
    assert await store.get_alert_evidence(b.alert_id) is None  # no image: unavailable
    assert await store.get_alert_evidence(c.alert_id) is None  # no image: still pending
    metas = await store.evidence_meta([a.alert_id, b.alert_id, c.alert_id, "other"])
    assert {k: v.state for k, v in metas.items()} == {
        a.alert_id: PRESENT,
        b.alert_id: UNAVAILABLE,
        c.alert_id: PENDING,
    }
    assert metas[b.alert_id].reason == "deleted after retention"
    assert [r.alert_id for r in await store.pending_evidence("box-1", 10)] == [c.alert_id]

    # An alert stored by a fleet that predates evidence has no row: the next start adds one.
    await _forget_request(store, tmp_path, c.alert_id)
    assert await store.request_missing_evidence(NOW + 20) == 1
    assert await store.request_missing_evidence(NOW + 21) == 0
    (late,) = await store.pending_evidence("box-1", 10)
    assert (late.alert_id, late.face_event_id, late.requested_us) == (
        c.alert_id,
        c.face_event_id,
        NOW + 20,
    )
    assert await store.get_evidence_request(late.request_id) is not None


async def test_retention_deletes_evidence_with_its_alert_pending_or_present(
    store: Store,
) -> None:
    old_kept, old_pending, young = _alert(NOW - 91 * DAY), _alert(NOW - 95 * DAY), _alert(NOW - DAY)
    requests = await _requests(store, old_kept, old_pending, young)
    assert await store.answer_evidence(requests[0].request_id, _present(NOW - 90 * DAY))
    assert await store.answer_evidence(requests[2].request_id, _present(NOW - DAY))

    settings = RetentionSettings(alerts_days=90)
    task = RetentionTask(store, settings, CollectorRegistry(), lambda: NOW, store.purge_alerts)
    assert (await task.run_pass())["alerts"] == 2

    assert await store.get_alert_evidence(old_kept.alert_id) is None
    assert await store.get_evidence_request(requests[1].request_id) is None  # not asked again
    assert await store.pending_evidence("box-1", 10) == []
    assert set(await store.evidence_meta([a.alert_id for a in (old_kept, old_pending, young)])) == {
        young.alert_id
    }
    kept = await store.get_alert_evidence(young.alert_id)
    assert kept is not None and kept[0] == JPEG

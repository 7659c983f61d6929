"""Retention: the purge task deletes exactly what expired, by type, with an injected clock.

Rows are stored with chosen receipt times (ages count from `received_us`, the fleet's own
clock), then a pass runs at a chosen "now"; no test sleeps for time to pass.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from fleet import retention
from fleet.config import EVENT_TYPES, RetentionSettings, SettingsError, load_settings
from fleet.errors import NotFoundError
from fleet.retention import RetentionTask
from fleet.store.base import Store
from fleet.store.pg import PostgresStore
from fleet.store.records import EventQuery, NewEvent, StoredEvent
from fleet.store.sqlite import SqliteStore
from fleet.watchlists.records import AlertQuery, AlertRecord, DecisionRecord
from proto.oko.v1 import events_pb2, stream_pb2
from proto.transport import bearer_metadata
from tests.fleet.conftest import Fleet, running_fleet
from tests.fleet.helpers import AgentStream, event, event_stub, new_device

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

NOW = 1_900_000_000_000_000  # the injected "now", in microseconds
HOUR = 3_600_000_000
DAY = 24 * HOUR
# Oldest first: receipt times rise with the cursor, as they do at ingest.
AGES = (400 * DAY, 31 * DAY, 10 * DAY, 25 * HOUR, 23 * HOUR, 1 * HOUR)
KINDS = ("face", "zone", "line_crossing")
SETTINGS = RetentionSettings(face_hours=24, events_days=30, type_days={"line_crossing": 365})


def _expired(kind: str, age_us: int) -> bool:
    limit = {"face": 24 * HOUR, "zone": 30 * DAY, "line_crossing": 365 * DAY}[kind]
    return age_us > limit


def _new(msg: events_pb2.Event, device_id: str = "box-1", site: str = "site-a") -> NewEvent:
    msg.device_id, msg.site = device_id, site
    capture = msg.capture_time
    return NewEvent(
        msg.event_id,
        device_id,
        msg.camera_id,
        site,
        str(msg.WhichOneof("body")),
        capture.seconds * 1_000_000 + capture.nanos // 1000,
        msg.SerializeToString(),
    )


async def _load(store: Store, now: int) -> dict[str, tuple[str, int]]:
    """One batch per age, every kind in each: event_id -> (kind, age)."""
    made: dict[str, tuple[str, int]] = {}
    for age in AGES:
        batch = []
        for n, kind in enumerate(KINDS):
            msg = event("cam-a", n, kind)
            made[msg.event_id] = (kind, age)
            batch.append(_new(msg))
        await store.ingest([batch], received_us=now - age)
    return made


async def _all(store: Store, after: int = 0) -> list[StoredEvent]:
    return await store.read_events(EventQuery(after_cursor=after, limit=10_000))


@pytest.fixture
async def store(any_store: Store) -> AsyncIterator[Store]:
    """Both stores (tests/fleet/conftest.py STORES): retention is a store contract."""
    yield any_store


async def _verify(store: Store) -> int:
    assert isinstance(store, SqliteStore | PostgresStore)
    return await store.verify_audit()


def _task(store: Store, now: int, settings: RetentionSettings = SETTINGS) -> RetentionTask:
    return RetentionTask(store, settings, CollectorRegistry(), clock=lambda: now)


async def test_a_pass_deletes_exactly_the_expired_rows_of_each_kind(store: Store) -> None:
    made = await _load(store, NOW)
    before = await _all(store)
    task = _task(store, NOW)

    purged = await task.run_pass()

    kept = await _all(store)
    expected = [e for e in before if not _expired(*made[e.event_id])]
    assert kept == expected  # same rows, same cursors, same order
    assert purged == {"face": 4, "events": 2, "line_crossing": 1}
    assert task.purged.labels("face")._value.get() == 4
    # A second pass at the same moment finds nothing; the cursor never goes back.
    assert await task.run_pass() == {}
    assert await store.last_cursor() == before[-1].cursor


async def test_every_purge_is_audited_and_the_chain_still_verifies(store: Store) -> None:
    await _load(store, NOW)
    await _task(store, NOW).run_pass()
    await _task(store, NOW).run_pass()  # nothing left: no entry
    assert await _verify(store) == 1


async def test_old_cursors_still_resume_over_what_remains(store: Store) -> None:
    made = await _load(store, NOW)
    before = await _all(store)
    await _task(store, NOW).run_pass()
    for start in before[:: len(KINDS)]:
        got = await _all(store, after=start.cursor)
        assert got == [
            e for e in before if e.cursor > start.cursor and not _expired(*made[e.event_id])
        ]


async def test_small_batches_reach_the_same_result(store: Store) -> None:
    settings = SETTINGS.model_copy(update={"batch_rows": 10})
    for i in range(12):  # 36 old faces more: several steps per rule
        await store.ingest([[_new(event("cam-b", i, "face")) for _ in range(3)]], NOW - 500 * DAY)
    made = await _load(store, NOW)
    before = await _all(store)
    purged = await _task(store, NOW, settings).run_pass()
    assert purged["face"] == 4 + 36
    assert [e.event_id for e in await _all(store)] == [
        e.event_id for e in before if e.event_id in made and not _expired(*made[e.event_id])
    ]


async def test_time_passing_purges_rows_once_they_expire(store: Store) -> None:
    msg = event("cam-a", 1, "face")
    await store.ingest([[_new(msg)]], received_us=NOW)
    assert await _task(store, NOW + 24 * HOUR - 1).run_pass() == {}
    assert await _task(store, NOW + 24 * HOUR + 1).run_pass() == {"face": 1}


async def test_changing_the_rules_rewalks_old_rows(store: Store) -> None:
    """Dropping an override puts its type under events_days, old rows included."""
    made = await _load(store, NOW)
    await _task(store, NOW).run_pass()
    purged = await _task(store, NOW, RetentionSettings(events_days=30)).run_pass()
    assert purged == {"events": 1}  # the 400-day line crossing
    left = {made[e.event_id] for e in await _all(store)}
    assert ("line_crossing", 400 * DAY) not in left and ("line_crossing", 31 * DAY) not in left


async def test_a_purge_during_ingest_loses_no_acknowledged_event(tmp_path: Path) -> None:
    async with running_fleet(tmp_path / "f") as fleet:
        await fleet.server.retention.stop()  # only this test's task purges
        store = fleet.server.app.store
        old = [_new(event("cam-old", i, "face")) for i in range(3000)]
        await store.ingest([old[i : i + 500] for i in range(0, 3000, 500)], 1_000_000)
        settings = SETTINGS.model_copy(update={"batch_rows": 50})
        task = RetentionTask(store, settings, CollectorRegistry())  # the wall clock

        acked = await asyncio.gather(task.run_pass(), _produce(fleet, batches=20, size=50))

        assert acked[0] == {"face": 3000}
        kept = {e.event_id for e in await _all(store)}
        assert kept == set(acked[1])


async def _produce(fleet: Fleet, batches: int, size: int) -> list[str]:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca, name="producer")
    sent: list[str] = []
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        for b in range(batches):
            batch = [event("cam-new", b * size + i, "face") for i in range(size)]
            stream.send_batch(batch)
            ack = await stream.next("ack")
            assert ack.ack.accepted == size
            sent += [e.event_id for e in batch]
        stream.close()
    return sent


async def test_query_and_subscribe_resume_from_a_purged_cursor(tmp_path: Path) -> None:
    async with running_fleet(tmp_path / "f") as fleet:
        await fleet.server.retention.stop()  # only this test's task purges
        store = fleet.server.app.store
        made = await _load(store, NOW)
        before = await _all(store)
        await _task(store, NOW).run_pass()
        first_purged = next(e for e in before if _expired(*made[e.event_id]))
        remaining = [
            e.event_id
            for e in before
            if e.cursor > first_purged.cursor and not _expired(*made[e.event_id])
        ]
        meta = bearer_metadata(fleet.admin)
        stub = event_stub(fleet.api)
        reply = await stub.Query(
            stream_pb2.QueryRequest(after_cursor=first_purged.cursor, limit=1000), metadata=meta
        )
        assert [e.event.event_id for e in reply.events] == remaining
        call = stub.Subscribe(
            stream_pb2.SubscribeRequest(resume_cursor=first_purged.cursor), metadata=meta
        )
        got: list[str] = []

        async def _read() -> None:
            async for env in call:
                got.append(env.event.event_id)
                if len(got) == len(remaining):
                    return

        await asyncio.wait_for(_read(), 10)
        call.cancel()
        assert got == remaining


async def test_the_server_runs_passes_and_exports_the_counters(tmp_path: Path) -> None:
    async with running_fleet(tmp_path / "f") as fleet:
        registry = fleet.server.app.metrics.registry
        for _ in range(200):  # the first pass runs at start, on the event loop
            if registry.get_sample_value("oko_fleet_retention_passes_total"):
                break
            await asyncio.sleep(0.05)
        assert (registry.get_sample_value("oko_fleet_retention_passes_total") or 0) >= 1
    assert fleet.server.retention._task is None


def test_settings_name_a_bad_retention_field(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    for body, needle in (
        ("retention: {type_days: {face: 3}}", "face_hours"),
        ("retention: {type_days: {parking: 3}}", "unknown event type 'parking'"),
        ("retention: {face_hours: 0}", "retention.face_hours"),
        ("retention: {keep: forever}", "retention.keep"),
    ):
        path.write_text(f"data_dir: {tmp_path}\n{body}\n")
        with pytest.raises(SettingsError, match=needle):
            load_settings(path, {})
    path.write_text(f"data_dir: {tmp_path}\nretention: {{face_hours: 6, interval_s: 60}}\n")
    assert load_settings(path, {}).retention.face_hours == 6


def test_alert_events_on_the_stream_live_as_long_as_alerts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fleet mints `watchlist_alert` events; they follow alerts_days, not events_days."""
    monkeypatch.setattr(retention, "EVENT_TYPES", EVENT_TYPES | {"watchlist_alert"})
    rules = {r.kind: r for r in retention.event_rules(RetentionSettings(alerts_days=90))}
    assert rules["watchlist_alert"].max_age_us == 90 * DAY
    assert rules["face"].max_age_us == 24 * HOUR
    other = rules["events"].events
    assert other.covers("zone") and not other.covers("watchlist_alert")
    assert not other.covers("face")


async def test_a_failing_alert_purge_is_logged_and_the_task_keeps_running(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    async def broken(before_us: int, limit: int) -> int:
        calls.append(before_us)
        raise RuntimeError("alerts table locked")

    settings = SETTINGS.model_copy(update={"interval_s": 1})
    task = RetentionTask(store, settings, CollectorRegistry(), lambda: NOW, alert_purge=broken)
    task.start()
    for _ in range(200):
        if calls:
            break
        await asyncio.sleep(0.01)
    assert task._task is not None and not task._task.done()
    await task.stop()
    assert calls == [NOW - 90 * DAY]
    assert "retention pass failed" in caplog.text


async def test_the_alert_purge_hook_is_called_until_it_runs_dry(store: Store) -> None:
    left = [25]

    async def purge_alerts(before_us: int, limit: int) -> int:
        assert before_us == NOW - 90 * DAY
        n = min(limit, left[0])
        left[0] -= n
        return n

    settings = SETTINGS.model_copy(update={"batch_rows": 10})
    task = RetentionTask(store, settings, CollectorRegistry(), lambda: NOW, purge_alerts)
    assert await task.run_pass() == {"alerts": 25}
    assert await _verify(store) == 1


def _alert(raised_us: int) -> AlertRecord:
    return AlertRecord(
        alert_id=str(uuid.uuid4()),
        state="candidate",
        watchlist="wl",
        subject_id="s1",
        subject_name="Ada",
        score=0.9,
        face_event_id=str(uuid.uuid4()),
        device_id="box-1",
        camera_id="cam-a",
        site="site-a",
        track_id=raised_us,  # one alert per (device, camera, track, subject)
        raised_us=raised_us,
    )


async def test_alerts_past_alerts_days_go_with_their_decisions(store: Store) -> None:
    ages = (200 * DAY, 91 * DAY, 89 * DAY, 1 * DAY)
    alerts = [_alert(NOW - age) for age in ages]
    for alert in alerts:
        assert await store.add_alert(alert)
        await store.decide_alert(alert.alert_id, DecisionRecord("confirm", "op", "tok-1", "", NOW))
    settings = SETTINGS.model_copy(update={"batch_rows": 10})
    task = RetentionTask(store, settings, CollectorRegistry(), lambda: NOW, store.purge_alerts)
    assert await task.run_pass() == {"alerts": 2}
    left = await store.list_alerts(AlertQuery())
    assert sorted(a.alert_id for a in left) == sorted(a.alert_id for a in alerts[2:])
    assert all(len(a.decisions) == 1 for a in left)
    with pytest.raises(NotFoundError):
        await store.get_alert(alerts[0].alert_id)

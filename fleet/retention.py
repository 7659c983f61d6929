"""The retention task: deletes what the fleet may no longer keep (`RetentionSettings`).

One asyncio task per server. Every `interval_s` it runs one pass: each rule purges its
expired rows through `Store.purge_events` in short transactions (ingest commits run
between them), the count per kind goes to a metric, one log line sums the pass up, and a
pass that deleted anything is appended to the audit log, so an auditor can see that
retention ran and what it removed.

Alerts are purged through `alert_purge` (the server passes `Store.purge_alerts`), called
with the alerts' cutoff until it returns fewer rows than asked for; evidence kept with an
alert belongs in that purge too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from fleet.config import ALERT_TYPE, EVENT_TYPES, FACE_TYPE, RetentionSettings
from fleet.errors import FleetError
from fleet.store.base import Store
from fleet.store.records import AuditEntry, PurgeRule

log = logging.getLogger(__name__)

_US_PER_HOUR = 3_600_000_000
_US_PER_DAY = 24 * _US_PER_HOUR
ALERTS = "alerts"
OTHER_EVENTS = "events"

# (cutoff_us, limit) -> rows deleted; fewer than `limit` means nothing more is expired.
AlertPurge = Callable[[int, int], Awaitable[int]]


def wall_clock_us() -> int:
    """Now, in microseconds since the epoch (the clock ingest stamps `received_us` with)."""
    return time.time_ns() // 1000


@dataclass(frozen=True)
class Rule:
    """One kind of row and how long it may live, in microseconds."""

    kind: str
    events: PurgeRule
    max_age_us: int


def event_rules(settings: RetentionSettings) -> list[Rule]:
    """Face events, alert events, each overridden type, then every other type (pure)."""
    rules = [Rule(FACE_TYPE, PurgeRule(frozenset({FACE_TYPE})), _hours(settings.face_hours))]
    days_of = dict(settings.type_days)
    if ALERT_TYPE in EVENT_TYPES:  # alerts minted onto the stream live as long as alerts
        days_of[ALERT_TYPE] = settings.alerts_days
    for name, days in sorted(days_of.items()):
        rules.append(Rule(name, PurgeRule(frozenset({name})), _days(days)))
    named = frozenset({FACE_TYPE, *days_of})
    rules.append(Rule(OTHER_EVENTS, PurgeRule(named, exclude=True), _days(settings.events_days)))
    return rules


def _hours(hours: float) -> int:
    return int(hours * _US_PER_HOUR)


def _days(days: float) -> int:
    return int(days * _US_PER_DAY)


class RetentionTask:
    """Runs purge passes; `run_pass` is the unit tests drive with their own clock."""

    def __init__(
        self,
        store: Store,
        settings: RetentionSettings,
        registry: CollectorRegistry,
        clock: Callable[[], int] = wall_clock_us,
        alert_purge: AlertPurge | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.rules = event_rules(settings)
        self.alert_purge = alert_purge
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.purged = Counter(
            "oko_fleet_retention_purged",
            "Rows deleted by retention, by kind (face, an event type, events, alerts)",
            ["kind"],
            registry=registry,
        )
        self.passes = Counter(
            "oko_fleet_retention_passes",
            "Retention passes run (failed ones too)",
            registry=registry,
        )

    async def run_pass(self) -> dict[str, int]:
        """Purge everything expired now; rows deleted per kind (kinds with none left out)."""
        started = time.perf_counter()
        now = self._clock()
        counts: dict[str, int] = {}
        for rule in self.rules:
            counts[rule.kind] = await self._purge_rule(rule, now - rule.max_age_us)
        if self.alert_purge is not None:
            counts[ALERTS] = await self._purge_alerts(now - _days(self.settings.alerts_days))
        purged = {kind: n for kind, n in counts.items() if n}
        for kind, n in purged.items():
            self.purged.labels(kind).inc(n)
        self.passes.inc()
        log.info(
            "retention pass: purged %d rows %s in %.0f ms",
            sum(purged.values()),
            json.dumps(purged, sort_keys=True),
            (time.perf_counter() - started) * 1000,
        )
        if purged:
            detail = json.dumps({"purged": purged, "now_us": now}, sort_keys=True)
            await self.store.audit(AuditEntry("fleet", "retention.purge", "events", detail, now))
        return purged

    async def _purge_rule(self, rule: Rule, before_us: int) -> int:
        deleted = 0
        while True:
            step = await self.store.purge_events(rule.events, before_us, self.settings.batch_rows)
            deleted += step.deleted
            if step.done:
                return deleted
            await asyncio.sleep(0)  # let queued ingest commits reach the writer first

    async def _purge_alerts(self, before_us: int) -> int:
        assert self.alert_purge is not None
        deleted = 0
        while True:
            n = await self.alert_purge(before_us, self.settings.batch_rows)
            deleted += n
            if n < self.settings.batch_rows:
                return deleted
            await asyncio.sleep(0)

    def start(self) -> None:
        """Start the periodic passes (the first one at once)."""
        if self._task is not None:
            return
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="retention")

    async def stop(self) -> None:
        """Cancel the task; a pass cut short resumes from its marks next start."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_pass()
            except FleetError as err:
                self.passes.inc()
                log.warning(
                    "retention pass failed (will retry in %.0f s): %s",
                    self.settings.interval_s,
                    err,
                )
            except Exception:  # e.g. a plugged-in alert purge: the task must outlive it
                self.passes.inc()
                log.exception("retention pass failed (will retry)")
            await asyncio.sleep(self.settings.interval_s)

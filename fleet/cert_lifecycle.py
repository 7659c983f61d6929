"""Device certificates after enrollment, on the fleet: renewal limits and expiry figures.

Pure parts (no I/O, clocks passed in): `RenewalLimiter`, `summarize`, `days_left`.
`ExpiryCollector` exports the summary to Prometheus, computed at scrape time from a
snapshot of expiry times that `ExpiryRefresher` reloads from the store - once a minute,
and soon after anything changed a certificate.

Label cardinality: 19,000 boxes must not mean 19,000 series, so the gauges are fleet-wide
counts (expired, expiring within 7 and 30 days) plus the soonest upcoming expiry; the
per-device figure is `okoctl device list` (`certificate_days_left`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fleet.errors import FleetError, RateLimitedError

log = logging.getLogger(__name__)

US_PER_DAY = 86_400 * 1_000_000
EXPIRY_WINDOWS_DAYS = (7, 30)
_WINDOW_S = 3600.0
REFRESH_S = 60.0
_MIN_REFRESH_GAP_S = 1.0


def days_left(not_after_us: int, now_us: int) -> float:
    """Days until `not_after_us` (negative once it has passed)."""
    return (not_after_us - now_us) / US_PER_DAY


@dataclass(frozen=True)
class ExpirySummary:
    """Certificate expiry over the devices that are not revoked."""

    devices: int
    expired: int
    expiring: dict[int, int]  # window in days -> devices not expired that expire within it
    min_seconds_left: float | None  # soonest upcoming expiry; None when nothing is valid


def summarize(
    not_afters: Iterable[int], now_us: int, windows: tuple[int, ...] = EXPIRY_WINDOWS_DAYS
) -> ExpirySummary:
    """Counts of expired and soon-expiring certificates, and the soonest upcoming expiry."""
    values = list(not_afters)
    valid = [v for v in values if v > now_us]
    expiring = {w: sum(1 for v in valid if v - now_us <= w * US_PER_DAY) for w in windows}
    soonest = (min(valid) - now_us) / 1e6 if valid else None
    return ExpirySummary(len(values), len(values) - len(valid), expiring, soonest)


class RenewalLimiter:
    """At most `per_hour` renewal attempts per device in any sliding hour.

    Attempts count whether they succeed or not: a box sending bad CSRs in a loop is held
    back as much as one renewing too often. Memory is bounded by the devices that tried in
    the last hour (only an authenticated device gets this far).
    """

    def __init__(self, per_hour: int, window_s: float = _WINDOW_S) -> None:
        self.per_hour = per_hour
        self.window_s = window_s
        self._attempts: dict[str, deque[float]] = {}
        self._sweep_at = 0.0

    def check(self, device_id: str, now_s: float) -> None:
        """Count an attempt, or raise RateLimitedError saying when the next one may come."""
        self._sweep(now_s)
        times = self._attempts.setdefault(device_id, deque())
        while times and times[0] <= now_s - self.window_s:
            times.popleft()
        if len(times) >= self.per_hour:
            retry = max(1, int(times[0] + self.window_s - now_s + 0.999))
            raise RateLimitedError(
                f"device {device_id}: {len(times)} certificate renewals in the last hour, "
                f"limit {self.per_hour}; retry in {retry} s"
            )
        times.append(now_s)

    def _sweep(self, now_s: float) -> None:
        if now_s < self._sweep_at:
            return
        self._sweep_at = now_s + self.window_s
        cutoff = now_s - self.window_s
        for device_id in [d for d, t in self._attempts.items() if not t or t[-1] <= cutoff]:
            del self._attempts[device_id]

    def __len__(self) -> int:
        return len(self._attempts)


def _now_us() -> int:
    return time.time_ns() // 1000


class ExpiryCollector(Collector):
    """The expiry gauges, computed when scraped from the last snapshot of expiry times.

    Computing at scrape time keeps "seconds left" exact between refreshes; the snapshot is
    swapped whole under a lock, because the scrape runs on prometheus_client's thread.
    """

    def __init__(self, clock: Callable[[], int] = _now_us) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._expiries: tuple[int, ...] = ()
        self.loaded = False

    def update(self, expiries: Iterable[int]) -> None:
        """Replace the snapshot (the store's `active_certificate_expiries`)."""
        snapshot = tuple(expiries)
        with self._lock:
            self._expiries = snapshot
            self.loaded = True

    def summary(self) -> ExpirySummary:
        """The summary of the current snapshot, now."""
        with self._lock:
            expiries = self._expiries
        return summarize(expiries, self._clock())

    def collect(self) -> Iterator[Metric]:
        """Yield the expired / expiring counts and the soonest expiry."""
        summary = self.summary()
        expired = GaugeMetricFamily(
            "oko_fleet_device_certs_expired",
            "Devices not revoked whose certificate has expired (they cannot renew: reissue)",
        )
        expired.add_metric([], summary.expired)
        yield expired
        expiring = GaugeMetricFamily(
            "oko_fleet_device_certs_expiring",
            "Devices not revoked whose valid certificate expires within the window",
            labels=["within_days"],
        )
        for window, count in sorted(summary.expiring.items()):
            expiring.add_metric([str(window)], count)
        yield expiring
        soonest = GaugeMetricFamily(
            "oko_fleet_device_cert_min_remaining_seconds",
            "Time until the soonest expiry of a valid device certificate (absent if none)",
        )
        if summary.min_seconds_left is not None:
            soonest.add_metric([], summary.min_seconds_left)
        yield soonest


class RenewalCounters:
    """`oko_fleet_cert_renewals_total{outcome}`: one bounded label, a handful of values."""

    OUTCOMES = ("renewed", "reissued", "revoked", "bad_csr", "rate_limited", "unknown")

    def __init__(self, registry: CollectorRegistry) -> None:
        self.counter = Counter(
            "oko_fleet_cert_renewals",
            "Certificate renewals and reissues by outcome (renewed, reissued, revoked = "
            "refused for a revoked device, bad_csr, rate_limited, unknown = certificate no "
            "longer accepted)",
            ["outcome"],
            registry=registry,
        )
        for outcome in self.OUTCOMES:
            self.counter.labels(outcome)

    def count(self, outcome: str) -> None:
        """Add one to `outcome` (one of OUTCOMES)."""
        self.counter.labels(outcome).inc()


class ExpiryRefresher:
    """Reloads the collector's snapshot every `interval_s`, and soon after `touch()`.

    One read of every active device's expiry per refresh; `touch()` calls in a burst (a
    site of boxes enrolling) coalesce into one refresh at most every second.
    """

    def __init__(
        self,
        load: Callable[[], Awaitable[list[int]]],
        collector: ExpiryCollector,
        interval_s: float = REFRESH_S,
    ) -> None:
        self._load = load
        self.collector = collector
        self.interval_s = interval_s
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def touch(self) -> None:
        """A certificate changed: refresh soon."""
        self._dirty.set()

    def start(self) -> None:
        """Start the refresh loop on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="cert-expiry")

    async def refresh(self) -> None:
        """Reload now; a failing store keeps the previous snapshot (logged)."""
        try:
            self.collector.update(await self._load())
        except FleetError as err:  # the store raises only these; gauges must not stop
            log.warning("certificate expiry gauges not refreshed: %s", err)

    async def _run(self) -> None:
        while True:
            self._dirty.clear()
            await self.refresh()
            await asyncio.sleep(_MIN_REFRESH_GAP_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), self.interval_s)

    async def stop(self) -> None:
        """Cancel the loop and wait for it."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


@dataclass
class CertLifecycle:
    """What the servicers share for renewals: the limiter, counters and the gauges' refresher."""

    limiter: RenewalLimiter
    counters: RenewalCounters
    refresher: ExpiryRefresher

"""Certificate expiry figures: the pure summary and limiter, and the live /metrics gauges.

The gauges are fleet-wide counts (no per-device labels: 19,000 boxes must not be 19,000
series) computed at scrape time; they pass promtool and follow enrollments and revocations.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fleet.cert_lifecycle import US_PER_DAY, ExpiryCollector, RenewalLimiter, summarize
from fleet.errors import RateLimitedError
from proto.oko.v1 import admin_pb2
from proto.transport import bearer_metadata
from tests.fleet.conftest import running_fleet
from tests.fleet.helpers import admin_stub, new_device
from tests.fleet.test_metrics_names import _promtool

NOW = 1_800_000_000 * 1_000_000


def test_summary_counts_expired_and_expiring_and_finds_the_soonest() -> None:
    expiries = [NOW - 1, NOW + 2 * US_PER_DAY, NOW + 10 * US_PER_DAY, NOW + 400 * US_PER_DAY]
    summary = summarize(expiries, NOW)
    assert (summary.devices, summary.expired) == (4, 1)
    assert summary.expiring == {7: 1, 30: 2}
    assert summary.min_seconds_left == pytest.approx(2 * 86_400)
    assert summarize([], NOW).min_seconds_left is None
    assert summarize([NOW - 5], NOW).expiring == {7: 0, 30: 0}


def test_collector_computes_at_scrape_time_without_per_device_series() -> None:
    clock = [NOW]
    collector = ExpiryCollector(lambda: clock[0])
    registry = CollectorRegistry()
    registry.register(collector)
    collector.update([NOW + 3 * US_PER_DAY] * 19_000)

    def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = generate_latest(registry).decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    now = samples()
    assert len(now) == 4  # expired, two windows, soonest: whatever the number of devices
    assert now[("oko_fleet_device_certs_expiring", (("within_days", "7"),))] == 19_000
    assert now[("oko_fleet_device_certs_expired", ())] == 0
    clock[0] = NOW + 4 * US_PER_DAY  # no refresh: the same snapshot, later
    later = samples()
    assert later[("oko_fleet_device_certs_expired", ())] == 19_000
    assert ("oko_fleet_device_cert_min_remaining_seconds", ()) not in later


def test_limiter_allows_n_per_sliding_hour_and_says_when_to_retry() -> None:
    limiter = RenewalLimiter(per_hour=2)
    limiter.check("dev-a", 0.0)
    limiter.check("dev-a", 100.0)
    with pytest.raises(RateLimitedError, match=r"limit 2; retry in 3500 s"):
        limiter.check("dev-a", 100.0)
    limiter.check("dev-b", 100.0)  # per device
    limiter.check("dev-a", 3600.5)  # the first attempt left the window
    for i in range(1000):
        limiter.check(f"dev-{i}", 4000.0)
    limiter.check("dev-z", 4000.0 + 7300)  # an hour later the sweep forgets them all
    assert len(limiter) == 1


async def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as client:
        text = (await client.get(url)).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def _until(url: str, name: str, labels: tuple[tuple[str, str], ...], value: float) -> None:
    for _ in range(100):
        if (await _scrape(url)).get((name, labels)) == value:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name}{labels} never became {value}: {await _scrape(url)}")


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_live_gauges_follow_enrollment_and_revocation_and_pass_promtool(
    tmp_path: Path,
) -> None:
    settings = {"metrics_listen": "127.0.0.1:0", "certificates": {"device_days": 3.0}}
    async with running_fleet(tmp_path / "f", **settings) as fleet:
        assert fleet.server.metrics_server is not None
        url = fleet.server.metrics_server.url
        boxes = [await new_device(fleet.server, fleet.admin, fleet.ca, f"b{i}") for i in range(2)]
        week = (("within_days", "7"),)
        await _until(url, "oko_fleet_device_certs_expiring", week, 2)
        await admin_stub(fleet.api).RevokeDevice(
            admin_pb2.RevokeDeviceRequest(device_id=boxes[0].device_id, reason="gone"),
            metadata=bearer_metadata(fleet.admin),
            timeout=10,
        )
        await _until(url, "oko_fleet_device_certs_expiring", week, 1)
        samples = await _scrape(url)
        soonest = samples[("oko_fleet_device_cert_min_remaining_seconds", ())]
        assert 3 * 86_400 - 120 < soonest <= 3 * 86_400
        assert samples[("oko_fleet_cert_renewals_total", (("outcome", "renewed"),))] == 0
        async with httpx.AsyncClient() as client:
            text = (await client.get(url)).text
    lint = subprocess.run(
        [_promtool(), "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(), lint.stdout

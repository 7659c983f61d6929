"""Config notices from other replicas (fleet/config_refresh.py): devices refreshed side by
side, one device never refreshed twice at once, and a notice during a refresh read again
after it, so the last document read is never older than the last notice."""

from __future__ import annotations

import asyncio

import pytest

from fleet.config_refresh import ConfigRefresher
from fleet.errors import StoreError

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_devices_refresh_concurrently_and_each_device_serially() -> None:
    version = {"d1": 1}
    running: set[str] = set()
    overlaps, peak, reads = [], [0], []

    async def refresh(device_id: str) -> None:
        if device_id in running:
            overlaps.append(device_id)
        running.add(device_id)
        peak[0] = max(peak[0], len(running))
        seen = version.get(device_id, 0)
        await asyncio.sleep(0.05)
        reads.append((device_id, seen))
        running.discard(device_id)

    refresher = ConfigRefresher(refresh)
    for i in range(50):
        refresher.notice(f"box-{i}")
    refresher.notice("d1")
    await asyncio.sleep(0.01)
    version["d1"] = 2  # a new version and its notice while d1's first read runs
    refresher.notice("d1")
    refresher.notice("d1")  # coalesced with the one before
    await refresher.idle()
    assert not overlaps
    assert peak[0] == 51  # all devices at once, not one after another
    d1 = [seen for device, seen in reads if device == "d1"]
    assert d1 == [1, 2]  # read again after the notice, once, and last with the new version


async def test_a_failing_refresh_does_not_stop_the_others() -> None:
    done: list[str] = []

    async def refresh(device_id: str) -> None:
        if device_id == "bad":
            raise StoreError("store away")
        done.append(device_id)

    refresher = ConfigRefresher(refresh)
    for device in ("a", "bad", "b"):
        refresher.notice(device)
    await refresher.idle()
    assert sorted(done) == ["a", "b"]
    refresher.notice("bad")  # not stuck "running" after the failure
    refresher.notice("a")
    await refresher.idle()
    assert done.count("a") == 2

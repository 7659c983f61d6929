"""Which replica runs a job that must run once across the fleet (webhooks, retention).

A lease is a row in the shared store (`leases`: name, holder, expiry). The holder renews
it every `ttl/3`; another replica takes it only after it expired, so a replica that died
(or lost the database) hands its jobs over within one ttl. A holder that cannot renew
stops its jobs before its lease can expire (`margin`), so two replicas never run the
same job at once, as long as their clocks agree to within the margin.

A store without leases (SQLite: one process) is always the holder.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from fleet.errors import FleetError

log = logging.getLogger(__name__)
Change = Callable[[bool], Awaitable[None]]


@runtime_checkable
class LeaseStore(Protocol):
    """The part of a shared store that keeps leases (PostgresStore)."""

    async def acquire_lease(self, name: str, holder: str, now_us: int, ttl_us: int) -> bool:
        """Take or renew; whether `holder` has the lease now."""

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up."""


class Lease:
    """One named lease, kept by a background task; `on_change(held)` runs on every flip."""

    def __init__(
        self,
        store: object,
        name: str,
        holder: str,
        on_change: Change,
        ttl_s: float = 6.0,
    ) -> None:
        self._store = store if isinstance(store, LeaseStore) else None
        self.name = name
        self.holder = holder
        self._on_change = on_change
        self._ttl_s = ttl_s
        self.held = False
        self._valid_until = 0.0  # monotonic time up to which we may act as holder
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Try once now (so a lone replica starts its jobs at once), then keep renewing."""
        await self._step()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"lease-{self.name}")

    async def stop(self) -> None:
        """Stop renewing and release the lease, so another replica takes it at once."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.held:
            await self._set(False)
            if self._store is not None:
                try:
                    await self._store.release_lease(self.name, self.holder)
                except FleetError as err:
                    log.info("lease %s not released (it will expire): %s", self.name, err)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._ttl_s / 3)
            await self._step()

    async def _step(self) -> None:
        if self._store is None:
            if not self.held:
                await self._set(True)
            return
        started = time.monotonic()
        try:
            got = await self._store.acquire_lease(
                self.name, self.holder, time.time_ns() // 1000, int(self._ttl_s * 1e6)
            )
        except FleetError as err:
            log.warning("lease %s: store unreachable: %s", self.name, err)
            got = self.held and time.monotonic() < self._valid_until
        else:
            if got:
                self._valid_until = started + self._ttl_s * 2 / 3  # stop well before expiry
        if got != self.held:
            await self._set(got)

    async def _set(self, held: bool) -> None:
        self.held = held
        log.info("lease %s %s by %s", self.name, "taken" if held else "given up", self.holder)
        try:
            await self._on_change(held)
        except Exception:  # the job's start/stop failing must not end the lease task
            log.exception("lease %s: reacting to the change failed", self.name)

"""Config notices from other replicas, applied concurrently but never out of order.

A push to every box arrives here as one notice per device (fleet/replicas.py), and the
NATS subscription hands notices over one at a time: awaited in turn, each one's store
read (the device's rendered document) made a 1,000-box push on a second replica take a
round trip per box, serially. Here each notice starts its own refresh, so the reads run
side by side (as many as the store's pool allows). Per device at most one refresh runs;
a notice that arrives meanwhile marks it to read again when done, so the last document
a box is sent is read after the last notice about it (never an older version last).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fleet.errors import FleetError

log = logging.getLogger(__name__)
Refresh = Callable[[str], Awaitable[None]]


class ConfigRefresher:
    """Runs `refresh(device_id)` per notice: concurrent across devices, serial per device."""

    def __init__(self, refresh: Refresh) -> None:
        self._refresh = refresh
        self._running: dict[str, bool] = {}  # device -> another notice came meanwhile
        self._tasks: set[asyncio.Task[None]] = set()

    def notice(self, device_id: str) -> None:
        """A config changed for `device_id`; refresh it soon (does not wait)."""
        if device_id in self._running:
            self._running[device_id] = True
            return
        self._running[device_id] = False
        task = asyncio.get_running_loop().create_task(self._run(device_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, device_id: str) -> None:
        try:
            while True:
                try:
                    await self._refresh(device_id)
                except FleetError as err:  # the store is away: the box gets it on reconnect
                    log.warning("config refresh of %s failed: %s", device_id, err)
                except Exception:  # one device's failure must not stop the others
                    log.exception("config refresh of %s failed", device_id)
                if not self._running.get(device_id):
                    return
                self._running[device_id] = False
        finally:
            self._running.pop(device_id, None)

    async def idle(self) -> None:
        """Wait until no refresh runs (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

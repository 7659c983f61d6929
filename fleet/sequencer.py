"""Every replica's committed events, merged into one gapless stream in cursor order.

Subscribers and webhooks (`fleet.broadcast.follow`) expect live events in cursor order
without gaps. With several replicas, this replica's own commits and the others' (arriving
over NATS) can come in any order, and a message may never come (a replica died between
its commit and its publish, NATS was down). The store's guarantees make the merge simple:
cursors are dense (each committed event has the next one) and whatever is visible is a
prefix (pg_events). So:

* a chunk that starts at the next cursor expected is published at once, then any held
  chunks that now follow on;
* a chunk from further ahead is held, and if the gap before it is still open after
  `gap_wait_s`, the missing cursors are read from the store, where they must already be
  (a later cursor was committed, so every earlier one was);
* every `poll_s` the store's last cursor is read (one row), so commits whose message
  never arrives are found even when nothing else happens here.

Ingest calls `publish` (the `fleet.ingest.Publisher` interface) with each local commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fleet.broadcast import Broadcaster
from fleet.bus import Bus
from fleet.errors import FleetError
from fleet.store.base import Store
from fleet.store.records import EventQuery, StoredEvent

log = logging.getLogger(__name__)
FILL_PAGE = 5000


class Sequencer:
    """Orders local and remote commits by cursor before they reach the broadcaster."""

    def __init__(
        self,
        store: Store,
        broadcaster: Broadcaster,
        bus: Bus,
        gap_wait_s: float = 0.05,
        poll_s: float = 0.5,
    ) -> None:
        self._store = store
        self._broadcaster = broadcaster
        self._bus = bus
        self._gap_wait_s = gap_wait_s
        self._poll_s = poll_s
        self._next = 1
        self._held: dict[int, list[StoredEvent]] = {}  # first cursor -> chunk
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.filled = 0  # events read from the store because no message brought them

    async def start(self) -> None:
        """Begin after the store's current last cursor: older events are history."""
        self._next = await self._store.last_cursor() + 1
        self._task = asyncio.get_running_loop().create_task(self._fill_loop(), name="sequencer")

    async def stop(self) -> None:
        """Stop filling gaps."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    @property
    def next_cursor(self) -> int:
        """The cursor the stream waits for next."""
        return self._next

    def publish(self, events: list[StoredEvent]) -> None:
        """A local commit: order it in, and tell the other replicas."""
        self._bus.publish_events(events)
        self.offer(events)

    def offer(self, events: list[StoredEvent]) -> None:
        """A commit from anywhere, in cursor order within itself."""
        if not events or events[-1].cursor < self._next:
            return  # already published (a duplicate message, or filled from the store)
        if events[0].cursor < self._next:
            events = [e for e in events if e.cursor >= self._next]
        if events[0].cursor == self._next:
            self._emit(events)
            self._drain()
        else:
            held = self._held.get(events[0].cursor)
            if held is None or len(held) < len(events):
                self._held[events[0].cursor] = events
            self._wake.set()

    def _emit(self, events: list[StoredEvent]) -> None:
        self._next = events[-1].cursor + 1
        try:
            self._broadcaster.publish(events)
        except Exception:  # a subscriber's bug must not stop the stream; they resume by cursor
            log.exception("publishing %s event(s) failed", len(events))

    def _drain(self) -> None:
        while self._held:
            first = min(self._held)
            if first > self._next:
                return
            chunk = self._held.pop(first)
            if chunk[-1].cursor >= self._next:
                self._emit([e for e in chunk if e.cursor >= self._next])

    async def _fill_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)
            self._wake.clear()
            if self._held:
                await asyncio.sleep(self._gap_wait_s)  # the message is usually just behind
            try:
                await self._fill()
            except FleetError as err:
                log.warning("sequencer cannot read the store (will retry): %s", err)
                await asyncio.sleep(self._poll_s)

    async def _fill(self) -> None:
        """Read from the store whatever is missing before the first held chunk (or the end)."""
        self._drain()
        while True:
            upto = min(self._held) - 1 if self._held else await self._store.last_cursor()
            if upto < self._next:
                return
            want = min(upto - self._next + 1, FILL_PAGE)
            start = self._next
            raw = await self._store.read_events(EventQuery(after_cursor=start - 1, limit=want))
            page = [e for e in raw if e.cursor <= upto]
            # While the store answered, messages may have brought some of these already.
            fresh = [e for e in page if e.cursor >= self._next]
            self.filled += len(fresh)
            if fresh:
                self._emit(fresh)
            if len(raw) < want or len(page) < len(raw):
                # Every event up to `upto` that exists was in `raw`; the rest was purged.
                self._next = max(self._next, upto + 1)
            self._drain()

"""In-process fan-out of committed events to live subscribers (Subscribe, webhooks).

Each subscriber has a bounded queue. `publish` never waits: if a subscriber's queue is
full it is marked as overflowed and its queue dropped, and `follow` switches that
subscriber to reading from the store by cursor until it has caught up. Ingest therefore
runs at the same speed with zero or a hundred slow subscribers, and a subscriber never
loses an event, because the store has every event the broadcast had.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fleet.store.base import Store
from fleet.store.records import EventFilter, EventQuery, StoredEvent

log = logging.getLogger(__name__)

DEFAULT_QUEUE_EVENTS = 20_000
CATCH_UP_PAGE = 1000


@dataclass(eq=False)
class Subscription:
    """One live listener. `overflowed` means: events were dropped, go read the store."""

    filter: EventFilter
    limit: int
    queued: int = 0
    overflowed: bool = False
    chunks: list[list[StoredEvent]] = field(default_factory=list)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, events: list[StoredEvent]) -> None:
        """Queue the matching events, or drop everything queued once the limit is passed.

        A slow subscriber then catches up from the store, so one laggard never holds memory or slows
        ingest.
        """
        if self.overflowed:
            return
        flt = self.filter
        unfiltered = not (flt.camera_ids or flt.sites or flt.types or flt.device_ids)
        matching = events if unfiltered else [e for e in events if flt.matches(e)]
        if not matching:
            return
        if self.queued + len(matching) > self.limit:
            self.overflowed = True
            self.chunks.clear()
            self.queued = 0
        else:
            self.chunks.append(matching)
            self.queued += len(matching)
        self.wakeup.set()

    async def take(self) -> list[StoredEvent] | None:
        """Next queued events in order; None if the subscriber overflowed."""
        while not self.chunks and not self.overflowed:
            self.wakeup.clear()
            await self.wakeup.wait()
        if self.overflowed:
            return None
        chunks, self.chunks = self.chunks, []
        self.queued = 0
        return chunks[0] if len(chunks) == 1 else [e for c in chunks for e in c]


class Broadcaster:
    """Publishes committed events (in cursor order) to every attached subscription."""

    def __init__(self, queue_events: int = DEFAULT_QUEUE_EVENTS) -> None:
        self._queue_events = queue_events
        self._subs: set[Subscription] = set()
        self.overflows = 0

    def attach(self, flt: EventFilter) -> Subscription:
        """Start receiving events committed from now on that match `flt`."""
        sub = Subscription(filter=flt, limit=self._queue_events)
        self._subs.add(sub)
        return sub

    def detach(self, sub: Subscription) -> None:
        """Stop delivering to `sub`; detaching twice is harmless."""
        self._subs.discard(sub)

    @property
    def subscribers(self) -> int:
        """How many subscriptions are attached (a fleet metric)."""
        return len(self._subs)

    def publish(self, events: list[StoredEvent]) -> None:
        """Offer newly committed events to every subscription; never blocks ingest."""
        for sub in self._subs:
            was = sub.overflowed
            sub.offer(events)
            if sub.overflowed and not was:
                self.overflows += 1
                log.info("subscriber fell behind; serving it from the store until it catches up")


async def follow(
    store: Store, broadcaster: Broadcaster, flt: EventFilter, after_cursor: int
) -> AsyncIterator[list[StoredEvent]]:
    """Every event matching `flt` with cursor > after_cursor, in order, then live ones.

    Attach first, then read the store until it has nothing more: anything committed
    before the attach is in the store, anything after is in the queue, overlap is skipped
    by cursor. After an overflow, the same again from the last cursor delivered.
    """
    cursor = after_cursor
    while True:
        sub = broadcaster.attach(flt)
        try:
            while True:
                page = await store.read_events(
                    EventQuery(filter=flt, after_cursor=cursor, limit=CATCH_UP_PAGE)
                )
                if not page:
                    break
                cursor = page[-1].cursor
                yield page
            while (chunk := await sub.take()) is not None:
                if chunk[0].cursor > cursor:
                    fresh = chunk
                else:
                    fresh = [e for e in chunk if e.cursor > cursor]
                if fresh:
                    cursor = fresh[-1].cursor
                    yield fresh
        finally:
            broadcaster.detach(sub)

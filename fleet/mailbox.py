"""A FIFO read by one task: what each connected box's stream needs of `asyncio.Queue`.

Every Connect stream holds two queues for as long as the box is connected (messages to
the box, batches waiting for their Ack), and an idle `asyncio.Queue` costs about 3 KiB
(three deques and an Event with a deque of its own: measured with tracemalloc, about 6 KiB
per connected box of the ~110 KiB bench/box_memory.py measures). This one holds a deque
and creates a future only while someone waits: a few hundred bytes when idle.

One consumer (`get`); any number of producers (`put_nowait`, `put`). Nothing is lost
when a waiting `get` or `put` is cancelled.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    """FIFO with an optional bound (`maxsize` > 0: `put` waits, `put_nowait` raises)."""

    __slots__ = ("_getter", "_items", "_putters", "maxsize")

    def __init__(self, maxsize: int = 0) -> None:
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._getter: asyncio.Future[None] | None = None
        self._putters: list[asyncio.Future[None]] = []

    def __len__(self) -> int:
        return len(self._items)

    def full(self) -> bool:
        """Whether a bounded mailbox holds `maxsize` items."""
        return 0 < self.maxsize <= len(self._items)

    def put_nowait(self, item: T) -> None:
        """Append `item`; asyncio.QueueFull if the mailbox is full."""
        if self.full():
            raise asyncio.QueueFull
        self._items.append(item)
        if self._getter is not None and not self._getter.done():
            self._getter.set_result(None)

    async def put(self, item: T) -> None:
        """Append `item`, waiting while the mailbox is full."""
        while self.full():
            waiter = asyncio.get_running_loop().create_future()
            self._putters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_putter()  # it was woken for space it will not use: pass it on
                raise
            finally:
                if waiter in self._putters:
                    self._putters.remove(waiter)
        self.put_nowait(item)

    def _wake_putter(self) -> None:
        while self._putters:
            waiter = self._putters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return

    async def get(self) -> T:
        """The oldest item, waiting for one if there is none."""
        while not self._items:
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
        item = self._items.popleft()
        self._wake_putter()
        return item

"""`FrameSlot`: the bounded hand-over between a camera's reader and whoever consumes it.

Live cameras must never queue: a consumer that falls behind should see the newest frame, and
the frames it missed are counted, not buffered. Offline analysis of a file wants the opposite,
every frame and no loss, so the same slot can instead make the producer wait.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class FrameSlot(Generic[T]):
    """A bounded buffer of the latest items.

    `put` in drop-old mode replaces the oldest item when full and counts it in `dropped`; in
    blocking mode it waits for room. `close` wakes everyone: `get` then drains what is left
    and returns None.
    """

    def __init__(self, capacity: int = 1, block: bool = False) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.block = block
        self.dropped = 0
        self._items: deque[T] = deque()
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: T, stop: threading.Event | None = None) -> bool:
        """Offer `item`; False if the slot is closed (or `stop` was set while waiting)."""
        with self._cond:
            while self.block and len(self._items) >= self.capacity and not self._closed:
                if stop is not None and stop.is_set():
                    return False
                self._cond.wait(0.1)
            if self._closed:
                return False
            if len(self._items) >= self.capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest item held, waiting up to `timeout`; None on timeout or when closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                return None
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """Refuse further puts and wake every waiting consumer; items still held can be read."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """Whether `close()` was called (the producer has finished)."""
        return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

"""UUIDv7 event ids (RFC 9562), minted on the edge box.

Why v7: the id is unique without coordination between ~19,000 boxes (74 random bits per
millisecond per box), and it sorts by creation time, which keeps the fleet's event-id index
append-mostly. Python 3.11 has no `uuid.uuid7`, so it is built here: 48-bit Unix
milliseconds, then a 12-bit counter that keeps ids from one generator strictly increasing
within a millisecond (RFC 9562 section 6.2, method 1), then 62 random bits.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable

_COUNTER_MAX = 0xFFF


class UuidV7Generator:
    """Strictly increasing UUIDv7s from one process; thread-safe."""

    def __init__(self, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._clock_ns = clock_ns
        self._lock = threading.Lock()
        self._last_ms = -1
        self._counter = 0

    def __call__(self) -> uuid.UUID:
        """The next id: later than every id given before, even if the wall clock stepped back."""
        with self._lock:
            ms = self._clock_ns() // 1_000_000
            if ms > self._last_ms:
                self._last_ms = ms
                # Random start in the lower half leaves room to count up within this ms.
                self._counter = secrets.randbits(11)
            else:
                # Same millisecond, or the wall clock stepped back: keep counting from the
                # last id so ids never go backwards; borrow the next ms on overflow.
                self._counter += 1
                if self._counter > _COUNTER_MAX:
                    self._last_ms += 1
                    self._counter = 0
            value = (self._last_ms & ((1 << 48) - 1)) << 80
            value |= 0x7 << 76 | self._counter << 64
            value |= 0b10 << 62 | secrets.randbits(62)
        return uuid.UUID(int=value)


def uuid7_millis(value: uuid.UUID) -> int:
    """The Unix milliseconds encoded in a UUIDv7."""
    return value.int >> 80

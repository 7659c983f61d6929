"""Run a box's uplink (`BoxParts`: spool -> mTLS stream) on its own event loop in a thread.

The camera pipeline is threaded and synchronous; the uplink is asyncio. A dedicated loop
keeps the two apart: the pipeline only appends to the spool and calls the uplink's `notify()`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from agent.pipeline.parts import BoxParts
from proto.oko.v1 import events_pb2


class UplinkThread:
    """Owns the loop; `sink` is an `Analysis` event sink feeding the spool."""

    def __init__(self, parts: BoxParts) -> None:
        self.parts = parts
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)
        self.error: BaseException | None = None
        self._stopped = False

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._stop = asyncio.Event()
        try:
            self._loop.run_until_complete(self.parts.uplink.run(self._stop))
        except BaseException as err:  # reported by the demo, never swallowed
            self.error = err

    def start(self) -> UplinkThread:
        """Run the uplink on its own event loop; a failure lands in `error`, never raised here."""
        self._thread.start()
        return self

    def sink(self, events: Sequence[events_pb2.Event]) -> None:
        """Durably append, then wake the sender."""
        self.parts.spool.append(list(events))
        self.parts.uplink.notify()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the stream and close the spool; calling it again does nothing."""
        if self._stopped:
            return
        self._stopped = True
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)
        self.parts.close()
        if not self._thread.is_alive():
            self._loop.close()

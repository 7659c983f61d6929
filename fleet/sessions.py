"""Open agent streams, by device.

How admin calls reach a connected box (desired state, commands) and how revocation cuts it off at
once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import grpc

from proto.oko.v1 import agent_pb2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Close:
    """Ends the stream: with OK when `code` is None, else with that status."""

    code: grpc.StatusCode | None = None
    detail: str = ""


@dataclass(eq=False)
class Session:
    """One Connect stream.

    Everything sent to the box goes through `outbox`, written by the stream's own task, so
    writes are never concurrent.
    """

    device_id: str
    outbox: asyncio.Queue[agent_pb2.FleetMessage | Close] = field(default_factory=asyncio.Queue)

    def send(self, message: agent_pb2.FleetMessage) -> None:
        """Queue a message for the box; the stream task writes it in order."""
        self.outbox.put_nowait(message)

    def close(self, code: grpc.StatusCode | None = None, detail: str = "") -> None:
        """Ask the stream task to end the call with `code` (None: end it cleanly)."""
        self.outbox.put_nowait(Close(code, detail))


class SessionRegistry:
    """At most one live stream per device.

    A reconnecting box replaces its old stream (which may be half-open after a network fault)
    instead of being refused.
    """

    def __init__(self) -> None:
        self._by_device: dict[str, Session] = {}

    def add(self, session: Session) -> None:
        """Register a new stream, ending the device's previous one if any."""
        old = self._by_device.get(session.device_id)
        if old is not None:
            old.close(grpc.StatusCode.CANCELLED, "superseded by a newer connection of this device")
        self._by_device[session.device_id] = session

    def remove(self, session: Session) -> None:
        """Forget a stream that ended, unless a newer one already replaced it."""
        if self._by_device.get(session.device_id) is session:
            del self._by_device[session.device_id]

    def get(self, device_id: str) -> Session | None:
        """The device's live stream, or None when it is not connected."""
        return self._by_device.get(device_id)

    def cut(self, device_id: str, code: grpc.StatusCode, detail: str) -> bool:
        """End the device's stream now with `code`; False if it was not connected."""
        session = self._by_device.pop(device_id, None)
        if session is None:
            return False
        log.info("cutting stream of %s: %s", device_id, detail)
        session.close(code, detail)
        return True

    def connected(self, device_id: str) -> bool:
        """Whether the device has a live stream now (shown as online)."""
        return device_id in self._by_device

    def __len__(self) -> int:
        return len(self._by_device)

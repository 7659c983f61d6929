"""Open streams: agent streams by device and subscriber streams by API token.

Agent streams: how admin calls reach a connected box (desired state, commands) and how
revocation cuts it off at once. Subscriber streams: how a token's expiry or revocation
ends the streams it opened, not only its next call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import grpc

from fleet.auth import Principal
from fleet.errors import UnauthenticatedError
from fleet.mailbox import Mailbox
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
    outbox: Mailbox[agent_pb2.FleetMessage | Close] = field(default_factory=Mailbox)
    started_us: int = field(default_factory=lambda: time.time_ns() // 1000)

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

    def cut_older(
        self,
        device_id: str,
        than_us: int,
        detail: str,
        code: grpc.StatusCode = grpc.StatusCode.CANCELLED,
    ) -> bool:
        """End the device's stream if it began before `than_us` (news from another replica)."""
        session = self._by_device.get(device_id)
        if session is None or session.started_us >= than_us:
            return False
        return self.cut(device_id, code, detail)

    def connected(self, device_id: str) -> bool:
        """Whether the device has a live stream now (shown as online)."""
        return device_id in self._by_device

    def __len__(self) -> int:
        return len(self._by_device)


@dataclass(eq=False)
class TokenStream:
    """One subscriber stream opened with an API token.

    Ending it moves its timeout to now, so whatever the stream awaits (the store, the
    fan-out queue, a slow client's write) is interrupted in its own task, and the handler
    answers with `reason`.
    """

    principal: Principal
    timeout: asyncio.Timeout
    reason: str

    def end(self, reason: str) -> None:
        """End the stream now; its client gets UNAUTHENTICATED with `reason`."""
        self.reason = reason
        self.timeout.reschedule(asyncio.get_running_loop().time())


class TokenStreams:
    """Subscriber streams by token id.

    A stream is scheduled to end when its token expires, so an expired token keeps
    nothing open; `end_token` ends them on revocation.
    """

    def __init__(self) -> None:
        self._by_token: dict[str, set[TokenStream]] = {}

    @asynccontextmanager
    async def guard(self, who: Principal) -> AsyncIterator[TokenStream]:
        """Run a stream's body inside.

        Raises UnauthenticatedError when the token expires or is revoked while it runs.
        """
        loop = asyncio.get_running_loop()
        deadline = None
        if who.expires_us:
            deadline = loop.time() + (who.expires_us - time.time_ns() // 1000) / 1e6
        stream: TokenStream | None = None
        try:
            async with asyncio.timeout_at(deadline) as timeout:
                stream = TokenStream(who, timeout, f"API token {who.name!r} has expired")
                self._by_token.setdefault(who.token_id, set()).add(stream)
                try:
                    yield stream
                finally:
                    self._discard(stream)
        except TimeoutError:
            if stream is not None and stream.timeout.expired():
                raise UnauthenticatedError(stream.reason) from None
            raise

    def _discard(self, stream: TokenStream) -> None:
        streams = self._by_token.get(stream.principal.token_id)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._by_token[stream.principal.token_id]

    def end_token(self, token_id: str, reason: str) -> int:
        """End every open stream of the token now; how many there were."""
        streams = list(self._by_token.get(token_id, ()))
        for stream in streams:
            stream.end(reason)
        if streams:
            log.info("ending %s stream(s) of API token %s: %s", len(streams), token_id, reason)
        return len(streams)

    def count(self, token_id: str) -> int:
        """Open streams of the token."""
        return len(self._by_token.get(token_id, ()))

"""Live views across replicas: the operator's replica is not always the box's.

With several replicas (docs/scale.md) an operator's console runs on one replica while the
box streams to another. The operator's replica asks through a `live_view` notice (the
request itself, small, on the control stream); the box's replica sends it down the box's
stream and remembers, for the lease, which replica asked. Frames the box then sends for
that view go straight back to that replica over its own plain NATS subject (not stored:
a live frame lost is replaced by the next), where `LiveViews.on_frame` checks them as if
the box were connected there. The box's replica does only the cheap part: the frame must
name a view it relays for this box, fit the byte bound, and come within the view's rate.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from prometheus_client import CollectorRegistry, Counter

from fleet import bus
from fleet.bus import Notice
from fleet.console.live import LiveViews
from fleet.replicas import Replication
from fleet.sessions import SessionRegistry
from proto.oko.v1 import agent_pb2, console_pb2

log = logging.getLogger(__name__)
_MAX_DEVICE_ID = 128
_BURST = 3.0


@dataclass
class _Relayed:
    """A view asked for by another replica, of a box connected here."""

    origin: str
    device_id: str
    max_fps: float
    until_s: float
    tokens: float = _BURST
    tokens_s: float = 0.0

    def take_token(self, now: float) -> bool:
        self.tokens = min(_BURST, self.tokens + (now - self.tokens_s) * self.max_fps)
        self.tokens_s = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def encode_frame(device_id: str, frame: console_pb2.LiveFrame) -> bytes:
    """One relayed frame: the box's id (as its replica authenticated it), then the frame."""
    return device_id.encode() + b"\n" + frame.SerializeToString()


def decode_frame(data: bytes) -> tuple[str, console_pb2.LiveFrame]:
    """Inverse of `encode_frame`; ValueError when it is not one."""
    head, sep, body = data.partition(b"\n")
    if not sep or not 0 < len(head) <= _MAX_DEVICE_ID:
        raise ValueError("relayed frame without a device id")
    try:
        return head.decode(), console_pb2.LiveFrame.FromString(body)
    except (UnicodeDecodeError, DecodeError) as err:
        raise ValueError(f"relayed frame does not parse: {err}") from err


class LiveRelay:
    """Both halves: asking another replica's box, and relaying its frames to who asked."""

    def __init__(
        self,
        replication: Replication,
        sessions: SessionRegistry,
        live: LiveViews,
        registry: CollectorRegistry,
    ) -> None:
        self._replication = replication
        self._sessions = sessions
        self._live = live
        self._relayed: dict[str, _Relayed] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.relayed = Counter(
            "oko_fleet_console_live_relayed",
            "Live-view frames relayed between replicas, by direction and outcome",
            ["direction", "outcome"],
            registry=registry,
        )
        replication.on(bus.LIVE_VIEW, self._on_request)
        replication.bus.on_direct(self._on_direct)
        live.elsewhere = self

    # -- the operator's replica ---------------------------------------------------------
    def connected(self, device_id: str) -> bool:
        """Whether the box has a stream on another replica (as far as notices say)."""
        return self._replication.connected(device_id)

    def ask(self, device_id: str, request: console_pb2.LiveViewRequest) -> bool:
        """Send `request` to the box through its replica; False when it is nowhere."""
        if not self._replication.connected(device_id):
            return False
        encoded = base64.b64encode(request.SerializeToString()).decode()
        task = asyncio.get_running_loop().create_task(
            self._replication.notify(bus.LIVE_VIEW, device_id=device_id, request=encoded)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _on_direct(self, data: bytes) -> None:
        try:
            device_id, frame = decode_frame(data)
        except ValueError as err:
            self.relayed.labels("in", "unreadable").inc()
            log.warning("ignored a relayed live frame: %s", err)
            return
        self.relayed.labels("in", "taken").inc()
        self._live.on_frame(device_id, frame)  # checked there as if the box were here

    # -- the box's replica --------------------------------------------------------------
    async def _on_request(self, notice: Notice) -> None:
        session = self._sessions.get(notice.data.get("device_id", ""))
        if session is None or not notice.origin:
            return
        try:
            request = console_pb2.LiveViewRequest.FromString(
                base64.b64decode(notice.data.get("request", ""), validate=True)
            )
        except (ValueError, DecodeError) as err:
            log.warning("ignored a live-view notice that does not parse: %s", err)
            return
        now = time.monotonic()
        self._prune(now)
        if request.action == console_pb2.LiveViewRequest.ACTION_START:
            relayed = self._relayed.get(request.view_id)
            if relayed is None:
                fps = min(max(request.max_fps, 0.1), 30.0)
                relayed = _Relayed(notice.origin, session.device_id, fps, 0.0, tokens_s=now)
                self._relayed[request.view_id] = relayed
            relayed.until_s = now + 2 * max(request.lease_seconds, 1)
        else:
            self._relayed.pop(request.view_id, None)
        session.send(agent_pb2.FleetMessage(live_view=request))

    def _prune(self, now: float) -> None:
        for view_id, relayed in list(self._relayed.items()):
            if relayed.until_s < now:
                del self._relayed[view_id]

    async def forward(self, device_id: str, frame: console_pb2.LiveFrame) -> bool:
        """Relay a box's frame when another replica asked for its view (True: not ours)."""
        relayed = self._relayed.get(frame.view_id)
        if relayed is None or relayed.device_id != device_id:
            return False
        now = time.monotonic()
        if relayed.until_s < now:
            del self._relayed[frame.view_id]
            return False
        if len(frame.jpeg) > self._live.settings.live_max_bytes:
            self.relayed.labels("out", "size").inc()
        elif not relayed.take_token(now):
            self.relayed.labels("out", "rate").inc()
        elif await self._replication.bus.send_to(relayed.origin, encode_frame(device_id, frame)):
            self.relayed.labels("out", "sent").inc()
        else:
            self.relayed.labels("out", "unsent").inc()
        return True

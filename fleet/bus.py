"""How replicas of one fleet tell each other things: committed events and control notices.

One process (the embedded default) has nothing to tell: `LocalBus` hands a notice to
this process's own handlers and publishes events nowhere. Replicas over one PostgreSQL
use `fleet.nats_bus.NatsBus`: every replica's committed events and notices reach every
other replica through NATS JetStream (docs/scale.md).

Notices carry names, never documents: a replica that receives `config` re-reads the
device's desired state from the store, so no secret travels over NATS and a notice that
arrives late can do no harm (it sends what is current, not what was).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from fleet.store.records import StoredEvent

log = logging.getLogger(__name__)

# Notice kinds (fleet/replicas.py handles each).
CONFIG = "config"  # {device_id}: send the device its desired state if connected here
CONFIGS = "configs"  # {device_ids: "a,b,..."}: CONFIG for each (one notice per batch push)
REVOKE = "revoke"  # {device_id, serial}: deny the certificate, cut the device's stream
TOKEN_REVOKED = "token_revoked"  # {token_id, reason}: end that API token's streams
WATCHLISTS = "watchlists"  # {}: galleries changed, reload them
WEBHOOKS = "webhooks"  # {}: webhooks added or deleted, the deliverer re-reads them
SESSION = "session"  # {device_id, started_us}: connected here, end its streams elsewhere
SESSION_END = "session_end"  # {device_id, started_us}: that stream ended
REISSUED = "reissued"  # {device_id, at_us}: end streams opened before with older certificates
COMMAND = "command"  # {device_id, command}: send this Command (base64 protobuf) if connected here
MODELS = "models"  # {device_id, slot}: send the device that slot's current model assignment
LIVE_VIEW = "live_view"  # {device_id, request}: send this LiveViewRequest (base64); relay frames
KINDS = frozenset(
    {
        CONFIG,
        CONFIGS,
        REVOKE,
        TOKEN_REVOKED,
        WATCHLISTS,
        WEBHOOKS,
        SESSION,
        SESSION_END,
        REISSUED,
        COMMAND,
        MODELS,
        LIVE_VIEW,
    }
)
_MAX_NOTICE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Notice:
    """One control message between replicas: what happened, to whom, and where it started."""

    kind: str
    data: dict[str, str] = field(default_factory=dict)
    origin: str = ""

    def encode(self) -> bytes:
        """Compact JSON (a notice is small and rare: readability wins over bytes)."""
        return json.dumps(
            {"kind": self.kind, "data": self.data, "origin": self.origin}, separators=(",", ":")
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Notice:
        """Parse and bound a notice; ValueError naming what is wrong."""
        if len(raw) > _MAX_NOTICE_BYTES:
            raise ValueError(f"notice of {len(raw)} bytes is over {_MAX_NOTICE_BYTES}")
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("kind") not in KINDS:
            raise ValueError(f"unknown notice kind {str(doc)[:80]!r}")
        data = doc.get("data", {})
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise ValueError("notice data must map strings to strings")
        return cls(str(doc["kind"]), data, str(doc.get("origin", "")))


Handler = Callable[[Notice], Awaitable[None]]
EventSink = Callable[[list[StoredEvent]], None]
#: Takes one message another replica addressed to this one (`Bus.send_to`).
DirectSink = Callable[[bytes], Awaitable[None]]


class Bus(Protocol):
    """What the fleet needs from its fan-out between replicas."""

    replica_id: str

    async def start(self, on_notice: Handler, on_events: EventSink) -> None:
        """Begin delivering other replicas' notices and committed events to the callbacks."""

    async def stop(self) -> None:
        """Stop delivering and publishing; pending publishes may be dropped."""

    def publish_events(self, events: list[StoredEvent]) -> None:
        """Send this replica's newly committed events to the others (never blocks ingest)."""

    async def notify(self, notice: Notice) -> None:
        """Send `notice` to every other replica (the caller has already acted here)."""

    def on_direct(self, sink: DirectSink) -> None:
        """Hand messages addressed to this replica (`send_to`) to `sink`."""

    async def send_to(self, replica_id: str, data: bytes) -> bool:
        """Best effort, unstored: `data` to one replica (live-view frames); False if not sent."""


class LocalBus:
    """One process: there is no other replica to tell anything."""

    def __init__(self, replica_id: str = "local") -> None:
        self.replica_id = replica_id

    async def start(self, on_notice: Handler, on_events: EventSink) -> None:
        """Nothing arrives from elsewhere."""

    async def stop(self) -> None:
        """Nothing runs in the background."""

    def publish_events(self, events: list[StoredEvent]) -> None:
        """No other replica to tell."""

    async def notify(self, notice: Notice) -> None:
        """No other replica to tell."""

    def on_direct(self, sink: DirectSink) -> None:
        """No other replica sends anything."""

    async def send_to(self, replica_id: str, data: bytes) -> bool:
        """No other replica to send to."""
        return False

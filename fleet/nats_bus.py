"""The bus between fleet replicas on NATS JetStream (the `Bus` of fleet/bus.py).

Two streams, created by whichever replica starts first (the same config from each):
* `OKO_EVENTS` (subject `oko.events`): every replica publishes its committed events
  (fleet/event_frames.py), with the first cursor as `Nats-Msg-Id`, so JetStream drops a
  frame a publisher retried. Kept `events_max_age_s`: enough for a replica that lost its
  connection for a moment to replay what it missed from NATS rather than PostgreSQL.
* `OKO_CONTROL` (subject `oko.control`): notices (config pushed, device revoked, ...).

Plus one plain (not JetStream) subject per replica, `oko.direct.<replica id>`, for what
one replica hands another and nobody needs kept: live-view frames a box sends to the
replica it is connected to, for the console of the replica whose operator watches.

Each replica reads both through ordered push consumers that start at "new" messages: a
consumer is this process's view, its position needs no durability (the store has every
event, the sequencer fills any gap from it). Publishing never blocks ingest: frames go
to a queue that a task drains; if NATS is away, frames are dropped and counted, and the
other replicas read those events from PostgreSQL instead (fleet/sequencer.py). Notices
are retried until NATS takes them, because a lost revocation must not stay lost.

Connection: retried in the background with backoff from the first attempt on, so a
replica starts, ingests and serves its own boxes while NATS is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy, DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import Error as JetStreamError

from fleet import event_frames
from fleet.bus import DirectSink, EventSink, Handler, Notice
from fleet.store.records import StoredEvent

log = logging.getLogger(__name__)
EVENTS_STREAM, EVENTS_SUBJECT = "OKO_EVENTS", "oko.events"
CONTROL_STREAM, CONTROL_SUBJECT = "OKO_CONTROL", "oko.control"
DIRECT_SUBJECT = "oko.direct."  # + replica id
_QUEUE_EVENTS = 200_000
_PUBLISH_TIMEOUT_S = 5.0
_NATS_ERRORS = (NatsError, JetStreamError, OSError, TimeoutError)


class NatsBus:
    """Replicas' fan-out over one NATS (cluster). Create, then `start`."""

    def __init__(self, servers: str, replica_id: str, events_max_age_s: float = 600.0) -> None:
        self.servers = [s for s in servers.split(",") if s]
        self.replica_id = replica_id
        self._max_age = events_max_age_s
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._on_notice: Handler | None = None
        self._on_events: EventSink | None = None
        self._on_direct: DirectSink | None = None
        self._frames: asyncio.Queue[tuple[str, bytes, int]] = asyncio.Queue()
        self._queued_events = 0
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = asyncio.Event()
        self.dropped_events = 0  # not published (NATS away or queue full): read from the store
        self.bad_frames = 0

    async def start(self, on_notice: Handler, on_events: EventSink) -> None:
        """Connect (in the background until NATS answers) and start the publisher."""
        self._on_notice, self._on_events = on_notice, on_events
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._connect_loop(), name="nats-connect"),
            loop.create_task(self._publish_loop(), name="nats-publish"),
        ]

    async def stop(self) -> None:
        """Stop the tasks and close the connection."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._nc is not None:
            with contextlib.suppress(*_NATS_ERRORS):
                await asyncio.wait_for(self._nc.close(), 5)

    async def _connect_loop(self) -> None:
        delay = 0.2
        while self._nc is None:
            try:
                await self._connect()
            except _NATS_ERRORS as err:
                log.warning(
                    "NATS %s not reachable (retrying in %.1f s): %s", self.servers, delay, err
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _connect(self) -> None:
        async def disconnected() -> None:
            self.connected.clear()
            log.warning("NATS connection lost; events from other replicas come from the store")

        async def reconnected() -> None:
            self.connected.set()
            log.info("NATS connection back")

        async def error(err: Exception) -> None:
            log.debug("NATS: %r", err)

        nc = await nats.connect(
            servers=self.servers,
            name=f"oko-fleet {self.replica_id}",
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=2,
            ping_interval=5,
            max_outstanding_pings=2,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            error_cb=error,
        )
        try:
            js = nc.jetstream(timeout=_PUBLISH_TIMEOUT_S)
            await self._streams(js)
            await js.subscribe(
                EVENTS_SUBJECT,
                cb=self._event_message,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.NEW,
            )
            await js.subscribe(
                CONTROL_SUBJECT,
                cb=self._control_message,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.NEW,
            )
            await nc.subscribe(DIRECT_SUBJECT + self.replica_id, cb=self._direct_message)
        except BaseException:
            await nc.close()
            raise
        self._nc, self._js = nc, js
        self.connected.set()
        log.info(
            "NATS JetStream bus up (%s) as replica %s", ",".join(self.servers), self.replica_id
        )

    async def _streams(self, js: JetStreamContext) -> None:
        configs = (
            StreamConfig(
                name=EVENTS_STREAM,
                subjects=[EVENTS_SUBJECT],
                storage=StorageType.FILE,
                max_age=self._max_age,
                max_bytes=2 * 1024**3,
                discard=DiscardPolicy.OLD,
                duplicate_window=min(120.0, self._max_age),
            ),
            StreamConfig(
                name=CONTROL_STREAM,
                subjects=[CONTROL_SUBJECT],
                storage=StorageType.FILE,
                max_age=3600.0,
                max_msgs=100_000,
                discard=DiscardPolicy.OLD,
            ),
        )
        for config in configs:
            try:
                await js.add_stream(config)
            except JetStreamError:
                await js.update_stream(config)

    async def _event_message(self, msg: Msg) -> None:
        if msg.headers and msg.headers.get("Oko-Replica") == self.replica_id:
            return  # our own commit: already ordered in locally
        try:
            events = event_frames.decode(msg.data)
        except (ValueError, UnicodeDecodeError) as err:
            self.bad_frames += 1
            log.warning("dropped a bad event frame from NATS (%s); the store fills it in", err)
            return
        if self._on_events is not None and events:
            self._on_events(events)

    async def _control_message(self, msg: Msg) -> None:
        try:
            notice = Notice.decode(msg.data)
        except ValueError as err:
            log.warning("ignored a bad notice from NATS: %s", err)
            return
        if notice.origin == self.replica_id or self._on_notice is None:
            return
        try:
            await self._on_notice(notice)
        except Exception:  # one notice's failure must not end the subscription
            log.exception("handling notice %s failed", notice.kind)

    async def _direct_message(self, msg: Msg) -> None:
        if self._on_direct is None:
            return
        try:
            await self._on_direct(msg.data)
        except Exception:  # one message's failure must not end the subscription
            log.exception("handling a direct message failed")

    def on_direct(self, sink: DirectSink) -> None:
        """Hand messages addressed to this replica (`send_to`) to `sink`."""
        self._on_direct = sink

    async def send_to(self, replica_id: str, data: bytes) -> bool:
        """Publish on the replica's own plain subject: no store, no retry (False if not sent)."""
        nc = self._nc
        if nc is None or not self.connected.is_set():
            return False
        try:
            await nc.publish(DIRECT_SUBJECT + replica_id, data)
        except _NATS_ERRORS as err:
            log.info("direct message to %s not sent: %r", replica_id, err)
            return False
        return True

    def publish_events(self, events: list[StoredEvent]) -> None:
        """Queue a local commit for the other replicas (drops and counts when over the bound)."""
        if self._queued_events + len(events) > _QUEUE_EVENTS:
            self.dropped_events += len(events)
            return
        self._queued_events += len(events)
        for frame, count in event_frames.split(events):
            self._frames.put_nowait((f"{events[0].cursor}:{len(frame)}", frame, count))

    async def _publish_loop(self) -> None:
        while True:
            msg_id, frame, count = await self._frames.get()
            self._queued_events -= count
            if self._js is None or not self.connected.is_set():
                self.dropped_events += count
                continue
            try:
                await self._js.publish(
                    EVENTS_SUBJECT,
                    frame,
                    timeout=_PUBLISH_TIMEOUT_S,
                    headers={"Nats-Msg-Id": msg_id, "Oko-Replica": self.replica_id},
                )
            except _NATS_ERRORS as err:
                self.dropped_events += count
                log.info("event frame not published (the store has it): %r", err)

    async def notify(self, notice: Notice) -> None:
        """Publish to the others (retried in the background until NATS takes it)."""
        notice = Notice(notice.kind, notice.data, self.replica_id)
        task = asyncio.get_running_loop().create_task(self._send_notice(notice))
        self._tasks.append(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)

    async def _send_notice(self, notice: Notice) -> None:
        delay = 0.1
        while True:
            js = self._js
            if js is not None:
                try:
                    await js.publish(CONTROL_SUBJECT, notice.encode(), timeout=_PUBLISH_TIMEOUT_S)
                    return
                except _NATS_ERRORS as err:
                    log.warning("notice %s not published yet (retrying): %r", notice.kind, err)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

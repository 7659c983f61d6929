"""Ingest: validate events at the edge of the store, then commit them in groups.

Group commit: agents' batches that arrive while a commit is running wait for the next
one, which then takes all of them in one transaction and one fsync. Under load that turns
hundreds of small commits per second into a few large ones; with one agent it costs
nothing (the queue is empty, the batch is committed at once). Acknowledgements go out
only after the commit returned, and new events are published to subscribers in commit
order from this single place, so the broadcast order equals the cursor order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from fleet.broadcast import Broadcaster
from fleet.errors import StoreError
from fleet.fleet_metrics import FleetMetrics
from fleet.store.base import Store
from fleet.store.records import BatchOutcome, NewEvent
from fleet.wire import length_delimited
from proto.oko.v1 import events_pb2

log = logging.getLogger(__name__)

_new_event = tuple.__new__  # NamedTuple construction without the generated __new__'s cost
MAX_ID_CHARS = 64
MAX_CAMERA_ID_CHARS = 128
MAX_EMBEDDING_DIMS = 4096
_BYTES_PER_VALUE = {events_pb2.Face.ENCODING_FLOAT16: 2, events_pb2.Face.ENCODING_INT8: 1}


@dataclass(frozen=True)
class Rejection:
    """An event refused at ingest: its place in the batch, its id and why (sent in the Ack)."""

    index: int
    event_id: str
    reason: str


def _face_problem(face: events_pb2.Face) -> str:
    width = _BYTES_PER_VALUE.get(face.encoding)
    if width is None:
        return "face.encoding unspecified"
    if not 0 < face.dimensions <= MAX_EMBEDDING_DIMS:
        return f"face.dimensions must be 1..{MAX_EMBEDDING_DIMS}"
    if len(face.embedding) != face.dimensions * width:
        size = len(face.embedding)
        return f"face.embedding has {size} bytes, expected {face.dimensions} x {width}"
    return ""


def _problem(event: events_pb2.Event, device_id: str) -> str:
    """Why this event can never be stored, or '' if it can."""
    problem = ""
    kind = event.WhichOneof("body")
    if not event.event_id or len(event.event_id) > MAX_ID_CHARS:
        problem = f"event_id must be 1..{MAX_ID_CHARS} characters"
    elif not event.camera_id or len(event.camera_id) > MAX_CAMERA_ID_CHARS:
        problem = f"camera_id must be 1..{MAX_CAMERA_ID_CHARS} characters"
    elif event.device_id and event.device_id != device_id:
        problem = f"device_id {event.device_id!r} is not this device's certificate ({device_id})"
    elif not event.HasField("capture_time") or event.capture_time.seconds <= 0:
        problem = "capture_time missing"
    elif kind is None:
        problem = "body missing (one of line_crossing, zone, traffic_flow, ...)"
    elif kind == "face":
        problem = _face_problem(event.face)
    return problem


def admit(
    events: Sequence[events_pb2.Event], device_id: str, site: str
) -> tuple[list[NewEvent], list[Rejection]]:
    """Split a batch into storable events and rejections with reasons.

    Admitted events are stamped with the authenticated device and its site, whatever the box
    claimed. The input messages are not modified.
    """
    admitted: list[NewEvent] = []
    rejected: list[Rejection] = []
    # Stamping appends fields to the serialized event instead of copying the message: a
    # parser keeps the last value of a repeated scalar field, and here the original value
    # is empty anyway (a different device_id was rejected above), so nothing is duplicated.
    device_field = length_delimited(2, device_id.encode())
    site_field = length_delimited(10, site.encode())
    for index, event in enumerate(events):
        event_id, camera_id, kind = event.event_id, event.camera_id, event.WhichOneof("body")
        sender, capture = event.device_id, event.capture_time
        # One cheap test for the common case; `_problem` says exactly what is wrong.
        plain = (
            0 < len(event_id) <= MAX_ID_CHARS
            and 0 < len(camera_id) <= MAX_CAMERA_ID_CHARS
            and (not sender or sender == device_id)
            and capture.seconds > 0
            and kind is not None
            and kind != "face"
        )
        problem = "" if plain else _problem(event, device_id)
        if problem:
            rejected.append(Rejection(index, event_id[:MAX_ID_CHARS], problem))
            continue
        payload = event.SerializeToString()
        if not sender:
            payload += device_field
        event_site = event.site
        if not event_site:
            payload += site_field
            event_site = site
        admitted.append(
            _new_event(
                NewEvent,
                (
                    event_id,
                    device_id,
                    camera_id,
                    event_site,
                    kind,
                    capture.seconds * 1_000_000 + capture.nanos // 1000,
                    payload,
                ),
            )
        )
    return admitted, rejected


@dataclass
class _Pending:
    events: list[NewEvent]
    future: asyncio.Future[BatchOutcome]


class Ingestor:
    """Group-committing writer in front of the store. One per server."""

    def __init__(
        self,
        store: Store,
        broadcaster: Broadcaster,
        metrics: FleetMetrics,
        max_group_events: int = 20_000,
    ) -> None:
        self._store = store
        self._broadcaster = broadcaster
        self._metrics = metrics
        self._max_group = max_group_events
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the group-commit task; call from the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ingest")

    async def stop(self) -> None:
        """Stop committing and fail every batch still waiting, so no box is acked for it."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(StoreError("fleet is shutting down"))

    def submit(self, events: list[NewEvent]) -> asyncio.Future[BatchOutcome]:
        """Queue a batch; the future resolves after its durable commit (or fails)."""
        future: asyncio.Future[BatchOutcome] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(events, future))
        return future

    def _take_group(self, first: _Pending) -> list[_Pending]:
        group = [first]
        size = len(first.events)
        while size < self._max_group and not self._queue.empty():
            item = self._queue.get_nowait()
            group.append(item)
            size += len(item.events)
        return group

    async def _run(self) -> None:
        while True:
            group = self._take_group(await self._queue.get())
            await self._commit(group)

    async def _commit(self, group: list[_Pending]) -> None:
        started = time.perf_counter()
        received_us = time.time_ns() // 1000
        try:
            commit = await self._store.ingest([p.events for p in group], received_us)
        except StoreError as err:
            log.error("ingest commit of %s batches failed: %s", len(group), err)
            for pending in group:
                if not pending.future.done():
                    pending.future.set_exception(err)
            return
        self._metrics.observe_commit(time.perf_counter() - started, commit, received_us)
        for pending, outcome in zip(group, commit.outcomes, strict=True):
            if not pending.future.done():
                pending.future.set_result(replace(outcome, last_cursor=commit.last_cursor))
        if commit.stored:
            self._broadcaster.publish(commit.stored)

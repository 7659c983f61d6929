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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from fleet.admission import EventRules, event_problem
from fleet.errors import StoreError, StoreValueError
from fleet.fleet_metrics import FleetMetrics
from fleet.limits import MAX_ID_CHARS, Limits
from fleet.store.base import Store
from fleet.store.records import BatchOutcome, NewEvent, StoredEvent
from fleet.wire import length_delimited
from proto.oko.v1 import events_pb2

log = logging.getLogger(__name__)

_new_event = tuple.__new__  # NamedTuple construction without the generated __new__'s cost


@dataclass(frozen=True)
class Rejection:
    """An event refused at ingest: its place in the batch, its id and why (sent in the Ack)."""

    index: int
    event_id: str
    reason: str


def admit(
    events: Sequence[events_pb2.Event],
    device_id: str,
    site: str,
    limits: Limits,
    now_us: int | None = None,
) -> tuple[list[NewEvent], list[Rejection]]:
    """Split a batch into storable events and rejections with reasons (`fleet.admission`).

    Admitted events are stamped with the authenticated device and its site; an event
    claiming another is refused. The input messages are not modified.
    """
    admitted: list[NewEvent] = []
    rejected: list[Rejection] = []
    now_us = time.time_ns() // 1000 if now_us is None else now_us
    rules = EventRules.of(device_id, site, now_us, limits)
    # Stamping appends fields to the serialized event instead of copying the message: a
    # parser keeps the last value of a non-repeated field, and here the original value is
    # empty or equal (a different device_id or site was rejected), so nothing is lost.
    device_field = length_delimited(2, device_id.encode())
    site_field = length_delimited(10, site.encode())
    for index, event in enumerate(events):
        payload = event.SerializeToString()
        problem = event_problem(event, len(payload), rules)
        if problem:
            rejected.append(Rejection(index, event.event_id[:MAX_ID_CHARS], problem))
            continue
        if not event.device_id:
            payload += device_field
        if not event.site:
            payload += site_field
        capture = event.capture_time
        admitted.append(
            _new_event(
                NewEvent,
                (
                    event.event_id,
                    device_id,
                    event.camera_id,
                    site,
                    event.WhichOneof("body"),
                    capture.seconds * 1_000_000 + capture.nanos // 1000,
                    payload,
                ),
            )
        )
    return admitted, rejected


class Publisher(Protocol):
    """Where committed events go, in commit order.

    The broadcaster, or on a shared store the sequencer that merges them with the other
    replicas' commits (fleet/sequencer.py).
    """

    def publish(self, events: list[StoredEvent]) -> None:
        """Take newly committed events; must not block."""


@dataclass
class _Pending:
    events: list[NewEvent]
    future: asyncio.Future[BatchOutcome]


class Ingestor:
    """Group-committing writer in front of the store. One per server.

    The single writer task must never die silently: a commit that fails is retried batch
    by batch, so one box's batch that the store cannot take fails alone (with a reason in
    its Ack, logged once and counted) while the others are stored; the task goes on. If
    the task ends anyway, `on_stopped` is told (the server turns health NOT_SERVING) and
    every batch submitted from then on fails with UNAVAILABLE instead of waiting forever.
    """

    def __init__(
        self,
        store: Store,
        broadcaster: Publisher,
        metrics: FleetMetrics,
        max_group_events: int = 20_000,
    ) -> None:
        self._store = store
        self._broadcaster = broadcaster
        self._metrics = metrics
        self._max_group = max_group_events
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        #: Called with each commit's new events after it is durable (e.g. watchlist matching).
        self.on_commit: list[Callable[[list[StoredEvent]], None]] = []
        self._stopping = False
        self.stopped_reason = ""
        self.on_stopped: Callable[[str], None] | None = None

    def start(self) -> None:
        """Start the group-commit task; call from the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ingest")
        self._task.add_done_callback(self._ended)

    async def stop(self) -> None:
        """Stop committing and fail every batch still waiting, so no box is acked for it."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._fail_queued(StoreError("fleet is shutting down"))

    def _fail_queued(self, err: StoreError) -> None:
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(err)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if self._stopping:
            return
        error = None if task.cancelled() else task.exception()
        self.stopped_reason = f"ingest task ended: {error!r}" if error else "ingest task cancelled"
        log.critical("%s; no batch can be stored until the fleet restarts", self.stopped_reason)
        self._fail_queued(StoreError(self.stopped_reason))
        if self.on_stopped is not None:
            self.on_stopped(self.stopped_reason)

    def submit(self, events: list[NewEvent]) -> asyncio.Future[BatchOutcome]:
        """Queue a batch; the future resolves after its durable commit (or fails)."""
        future: asyncio.Future[BatchOutcome] = asyncio.get_running_loop().create_future()
        if self.stopped_reason:
            future.set_exception(StoreError(self.stopped_reason))
        else:
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
        except Exception as err:  # whatever it is, it must not end the task
            if len(group) > 1:  # find the batch at fault: the others must not pay for it
                for pending in group:
                    await self._commit([pending])
            else:
                self._failed(group[0], err)
            return
        self._metrics.observe_commit(time.perf_counter() - started, commit, received_us)
        for pending, outcome in zip(group, commit.outcomes, strict=True):
            if not pending.future.done():
                pending.future.set_result(replace(outcome, last_cursor=commit.last_cursor))
        if commit.stored:
            try:
                self._broadcaster.publish(commit.stored)
            except Exception:  # a subscriber's bug must not stop ingest; they resume by cursor
                log.exception("publishing %s committed event(s) failed", len(commit.stored))
            for hook in self.on_commit:
                hook(commit.stored)

    def _failed(self, pending: _Pending, err: Exception) -> None:
        """One batch the store did not take: operational (retry later) or for good."""
        if pending.future.done():
            return
        if isinstance(err, StoreError):
            log.error("ingest commit failed: %s", err)
            pending.future.set_exception(err)
            return
        self._metrics.ingest_failures.inc()
        if isinstance(err, StoreValueError):
            reason = f"not stored: {err}"
            log.error("ingest: batch of %s event(s) %s", len(pending.events), reason)
        else:
            reason = f"not stored: internal error ({type(err).__name__}), logged by the fleet"
            log.error("ingest: batch of %s event(s) failed", len(pending.events), exc_info=err)
        pending.future.set_result(BatchOutcome(accepted=0, duplicates=0, failed=reason))

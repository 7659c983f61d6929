"""1:N matching of committed face events, off the acknowledgement path.

The ingest writer hands every committed batch to `Matcher.offer` (a non-blocking put into
a bounded queue) after the durable commit, so matching never delays an Ack. One task takes
face events from the queue, up to `SEARCH_BATCH` at a time, and searches them with one
matrix product per gallery in a worker thread (a search at 10^5 templates is tens of
milliseconds of CPU the event loop must not spend), and for each new (track, subject)
keeps the alert durably before it is published as a `watchlist_alert` event, through the
same ingest writer as box events so the stream stays in cursor order.

When the queue is full (the fleet is overloaded) a face is dropped and counted, never
blocking ingest; the face event itself is stored either way.

Galleries above `AnnPolicy.min_templates` get an ANN index (fleet/watchlists/galleries.py);
building one from scratch takes minutes at 10^6 templates, so it runs on its own thread
while the gallery is searched exactly, and is handed over when complete.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from google.protobuf.message import DecodeError

from fleet.errors import FleetError
from fleet.store.base import Store
from fleet.store.records import StoredEvent
from fleet.watchlists.ann import AnnError
from fleet.watchlists.ann_files import load_or_build
from fleet.watchlists.galleries import AnnPolicy, GalleryBuilder
from fleet.watchlists.gallery import F32, Gallery, Match, decode_embedding
from fleet.watchlists.metrics import WatchlistMetrics
from fleet.watchlists.records import CANDIDATE, AlertRecord, EmbedderKey
from proto.oko.v1 import events_pb2

log = logging.getLogger(__name__)
QUEUE_FACES = 10_000
#: Embedder versions without a gallery that are logged (once each); later ones are counted only.
UNKNOWN_LOGGED = 32
#: Faces searched in one matrix product when they queue up (bounds the (n, m) scores).
SEARCH_BATCH = 32
#: Publishes an alert's change durably on the event stream (see runtime.publish_alert).
Publish = Callable[[AlertRecord, int], Awaitable[None]]
Audit = Callable[[str, str, str, str], Awaitable[None]]


@dataclass(frozen=True)
class _Face:
    stored: StoredEvent
    track_id: int
    key: EmbedderKey
    vector: F32


class Matcher:
    """Searches face events against every gallery; raises one alert per (track, subject)."""

    def __init__(
        self,
        store: Store,
        metrics: WatchlistMetrics,
        publish: Publish,
        audit: Audit,
        policy: AnnPolicy | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._publish = publish
        self._audit = audit
        self._queue: asyncio.Queue[StoredEvent] = asyncio.Queue(QUEUE_FACES)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="watchlist-search")
        self._galleries: dict[EmbedderKey, Gallery] = {}
        self._builder = GalleryBuilder(policy or AnnPolicy())
        self._reload_lock = asyncio.Lock()
        self._index_pool = ThreadPoolExecutor(1, thread_name_prefix="watchlist-ann-build")
        self._index_tasks: dict[EmbedderKey, asyncio.Task[None]] = {}
        self._stopping = threading.Event()
        self._unknown: set[EmbedderKey] = set()
        self._task: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()
        self.idle.set()

    async def start(self) -> None:
        """Load the galleries and start matching; call from the running loop."""
        await self.reload()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="watchlist-match")

    async def stop(self) -> None:
        """Stop matching; faces still queued are not matched (they stay stored)."""
        self._stopping.set()
        tasks = [t for t in (self._task, *self._index_tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pool.shutdown(wait=True)
        self._index_pool.shutdown(wait=True, cancel_futures=True)

    async def reload(self) -> None:
        """Rebuild the galleries from the store, after any watchlist or subject change.

        Serialised, so a slower reload can never install an older view of the store over
        a newer one (a removed subject must not come back). Returns once the new
        generation is the one searched: a removed or expired subject matches no later face.
        """
        async with self._reload_lock:
            rows = await self._store.gallery_rows()
            loop = asyncio.get_running_loop()
            self._galleries = await loop.run_in_executor(self._pool, self._builder.build, rows)
        self._metrics.set_galleries(self._galleries)
        log.info(
            "watchlist galleries: %s",
            ", ".join(
                f"{k} ({len(g)} templates, {'ann' if g.ann else 'exact'})"
                for k, g in self._galleries.items()
            )
            or "none",
        )
        for key in self._builder.wanted - set(self._index_tasks):
            task = loop.create_task(self._build_index(key), name=f"watchlist-ann-{key}")
            self._index_tasks[key] = task

    async def _build_index(self, key: EmbedderKey) -> None:
        """Build `key`'s ANN index off the search thread, then hand it over by a reload."""
        gallery = self._galleries.get(key)
        try:
            if gallery is None:
                return
            log.info("gallery %s: building its ANN index (%d templates)", key, len(gallery))
            started = time.perf_counter()
            loop = asyncio.get_running_loop()
            policy = self._builder.policy
            slot, loaded = await loop.run_in_executor(
                self._index_pool, load_or_build, gallery, policy, self._stopping
            )
            log.info(
                "gallery %s: ANN index of %d templates %s in %.1f s (%.0f MiB)",
                key,
                len(slot.index),
                "loaded" if loaded else "built",
                time.perf_counter() - started,
                slot.index.nbytes / 2**20,
            )
            async with self._reload_lock:
                self._builder.install(key, slot)
        except AnnError as err:
            log.error("gallery %s: ANN index not built, searching exactly: %s", key, err)
            return
        finally:
            self._index_tasks.pop(key, None)
        await self.reload()

    async def index_ready(self) -> None:
        """Wait until no ANN index is being built (tests and benchmarks)."""
        while self._index_tasks:
            await asyncio.gather(*self._index_tasks.values(), return_exceptions=True)

    def galleries(self) -> dict[EmbedderKey, Gallery]:
        """The galleries in use (replaced as a whole on reload, never mutated)."""
        return self._galleries

    def offer(self, stored: Sequence[StoredEvent]) -> None:
        """Queue the committed face events among `stored` (called by the ingest writer)."""
        for event in stored:
            if event.type != "face":
                continue
            try:
                self._queue.put_nowait(event)
                self.idle.clear()
            except asyncio.QueueFull:
                self._metrics.dropped.inc()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < SEARCH_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._match(batch)
            except FleetError as err:
                log.error("matching %s face event(s) failed: %s", len(batch), err)
            if self._queue.empty():
                self.idle.set()

    def _prepare(self, stored: StoredEvent) -> _Face | None:
        """The face's unit vector and gallery, or None (counted) if it cannot be matched."""
        try:
            event = events_pb2.Event.FromString(stored.payload)
        except DecodeError as err:  # stored payloads were parsed at ingest; never expected
            log.error("stored face event %s does not parse: %s", stored.event_id, err)
            return None
        face = event.face
        key = EmbedderKey(face.embedder.name, face.embedder.version)
        gallery = self._galleries.get(key)
        if gallery is None:
            self._metrics.no_gallery.inc()
            if key not in self._unknown and len(self._unknown) < UNKNOWN_LOGGED:
                self._unknown.add(key)  # once per version (bounded: boxes are untrusted)
                log.warning(
                    "face events of embedder %r are not matched: no gallery for it "
                    "(okoctl watchlist reembed --embedder NAME@VERSION makes one)",
                    str(key),
                )
            return None
        if face.dimensions != gallery.dimensions:
            self._metrics.unreadable.inc()
            return None
        int8 = face.encoding == events_pb2.Face.ENCODING_INT8
        vector = decode_embedding(face.embedding, face.dimensions, int8)
        return _Face(stored, event.track_id, key, vector)

    async def _match(self, batch: list[StoredEvent]) -> None:
        """Search the batch's faces, one matrix product per gallery, then raise alerts."""
        faces = [f for f in map(self._prepare, batch) if f is not None]
        loop = asyncio.get_running_loop()
        for key in dict.fromkeys(f.key for f in faces):
            group = [f for f in faces if f.key == key]
            gallery = self._galleries[key]
            now_us = time.time_ns() // 1000
            started = time.perf_counter()
            found = await loop.run_in_executor(
                self._pool,
                gallery.search_many,
                np.stack([f.vector for f in group]),
                [f.stored.site for f in group],
                now_us,
            )
            self._metrics.search_seconds.observe(time.perf_counter() - started)
            self._metrics.searched.inc(len(group))
            for face, matches in zip(group, found, strict=True):
                for match in matches:
                    await self._raise(face.stored, face.track_id, match, now_us)

    async def _raise(self, stored: StoredEvent, track_id: int, match: Match, now_us: int) -> None:
        alert = AlertRecord(
            alert_id=str(uuid.uuid4()),
            state=CANDIDATE,
            watchlist=match.watchlist.name,
            subject_id=match.subject_id,
            subject_name=match.subject_name,
            score=match.score,
            face_event_id=stored.event_id,
            device_id=stored.device_id,
            camera_id=stored.camera_id,
            site=stored.site,
            track_id=track_id,
            raised_us=now_us,
        )
        if not await self._store.add_alert(alert):
            return  # this track already raised an alert for this subject
        self._metrics.alerts.inc()
        detail = (
            f"subject {match.subject_id} watchlist {match.watchlist.name} score {match.score:.3f}"
        )
        await self._audit("fleet", "alert.raise", alert.alert_id, detail)
        log.warning(
            "watchlist alert %s: %s (%s) on %s/%s track %s, score %.3f",
            alert.alert_id,
            match.subject_name,
            match.watchlist.name,
            stored.device_id,
            stored.camera_id,
            track_id,
            match.score,
        )
        await self._publish(alert, 1)

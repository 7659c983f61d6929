"""The watchlist parts of a running fleet: matcher, evidence, checkpoints, enrolment models.

`Watchlists.start(app)` wires them into the app (ingest hook, tasks, shutdown), so the
server adds the whole feature with one call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from fleet.bus import WATCHLISTS, Notice
from fleet.errors import FleetError
from fleet.services.convert import ts
from fleet.store.records import NewEvent
from fleet.watchlists import wire
from fleet.watchlists.checkpoints import CHECKPOINT_EVERY_S, CheckpointSigner
from fleet.watchlists.evidence import EvidenceBroker
from fleet.watchlists.galleries import AnnPolicy
from fleet.watchlists.matcher import Matcher
from fleet.watchlists.metrics import WatchlistMetrics
from fleet.watchlists.records import AlertRecord
from fleet.watchlists.reembed import Reembedder
from proto.oko.v1 import events_pb2
from proto.oko.v1 import watchlists_pb2 as pb

if TYPE_CHECKING:
    from fleet.app import FleetApp
    from fleet.watchlists.enrol import Enrolled, FaceEnroller

log = logging.getLogger(__name__)
ALERT_EVENT = "watchlist_alert"
#: Saved ANN indexes, under the data directory (fleet.watchlists.ann_files).
ANN_DIR = "watchlist-ann"


class Watchlists:
    """One per server. Create with `await Watchlists.start(app)`."""

    def __init__(self, app: FleetApp) -> None:
        self.app = app
        self.metrics = WatchlistMetrics(app.metrics.registry)
        self.signer = CheckpointSigner.load_or_create(app.settings.data_dir)
        cfg = app.settings.watchlists
        policy = AnnPolicy(
            cfg.ann_min_templates,
            cfg.ann_candidates,
            cfg.ann_build_threads,
            max(cfg.ann_search_depth, cfg.ann_candidates),
            index_dir=app.settings.data_dir / ANN_DIR,
        )
        self.matcher = Matcher(app.store, self.metrics, self.publish_alert, app.audit, policy)
        self.evidence = EvidenceBroker(app, self.publish_alert)
        self._enroller: FaceEnroller | None = None
        self._enrol_pool = ThreadPoolExecutor(1, thread_name_prefix="enrol")
        self.models_manifest = cfg.models_manifest
        self.reembedder = Reembedder(
            app.store, self._enrol_pool, cfg.models_manifest, self.matcher.reload
        )
        self._checkpoint_task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, app: FleetApp) -> Watchlists:
        """Load galleries, hook into ingest and the agent streams, start the tasks."""
        self = cls(app)
        await self.evidence.start()
        await self.matcher.start()
        app.ingestor.on_commit.append(self.matcher.offer)
        app.replication.on(WATCHLISTS, self._reload)
        self._checkpoint_task = asyncio.get_running_loop().create_task(self._checkpoints())
        app.closers.append(self.stop)
        return self

    async def galleries_changed(self) -> None:
        """After a watchlist or subject change: reload here, and on every other replica."""
        await self.matcher.reload()
        await self.app.replication.notify(WATCHLISTS)

    async def _reload(self, notice: Notice) -> None:
        await self.matcher.reload()

    async def stop(self) -> None:
        """Stop the tasks (before the ingest writer stops)."""
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            await asyncio.gather(self._checkpoint_task, return_exceptions=True)
        await self.matcher.stop()
        await self.evidence.stop()
        self._enrol_pool.shutdown(wait=True)

    async def _checkpoints(self) -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_EVERY_S)
            with contextlib.suppress(FleetError):
                await self.signer.checkpoint(self.app.store)

    async def enrol(self, data: bytes) -> Enrolled:
        """One enrolment photo through the boxes' face models, in a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._enrol_pool, self._enrol_sync, data)

    def _enrol_sync(self, data: bytes) -> Enrolled:
        if self._enroller is None:
            from fleet.watchlists.enrol import FaceEnroller  # loads OpenCV + ONNX Runtime

            self._enroller = FaceEnroller.load(manifest=self.models_manifest)
        return self._enroller.enrol(data)

    async def publish_alert(self, alert: AlertRecord, change: int) -> None:
        """Put an alert's change on the event stream, durably (through the ingest writer).

        A raised alert's evidence request (kept with it by the store) goes to the box only
        after the alert is on the stream, so subscribers always see the raise before the
        box's answer.
        """
        evidence = (await self.app.store.evidence_meta([alert.alert_id])).get(alert.alert_id)
        now_us = time.time_ns() // 1000
        event = events_pb2.Event(
            event_id=str(uuid.uuid4()),
            device_id=alert.device_id,
            camera_id=alert.camera_id,
            capture_time=ts(now_us),
            track_id=alert.track_id,
            site=alert.site,
            watchlist_alert=wire.alert(alert, change, evidence),
        )
        new = NewEvent(
            event.event_id,
            alert.device_id,
            alert.camera_id,
            alert.site,
            ALERT_EVENT,
            now_us,
            event.SerializeToString(),
        )
        await self.app.ingestor.submit([new])
        if change == pb.WatchlistAlert.CHANGE_RAISED:
            await self.evidence.raised(alert)

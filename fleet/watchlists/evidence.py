"""Evidence on demand: the fleet asks a box for the best shot of an alert's track.

Face images stay on the boxes. Only when an alert is raised does the fleet want one: the
store keeps a pending request with every new alert (same transaction), and the fleet
sends it as `FleetMessage.evidence_request` on the box's Connect stream - now if the box
is connected, else when it next says Hello. Requests wait as long as their alert is kept:
retention deletes an alert together with its request and image.

The box answers each request once (`AgentMessage.evidence`). An answer counts only if it
names a request that was made to that same device and is still pending; then it is judged
(`fleet.watchlists.evidence_check`: same camera, track and face event, bounded bytes, a
complete baseline JPEG of sane size), recorded (the image, or why there is none), audited
with the device as the actor, and announced on the event stream as a CHANGE_EVIDENCE of
the alert - without the image, which only the audited GetAlertEvidence returns.

At most `WINDOW` requests are outstanding per stream, so a box that never answers (an
older agent) costs the fleet a handful of small messages per connection, not thousands.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter

from fleet.admission import text_problem
from fleet.errors import NotFoundError
from fleet.limits import MAX_ID_CHARS
from fleet.sessions import Session
from fleet.watchlists.evidence_check import MAX_EVIDENCE_BYTES, judge
from fleet.watchlists.evidence_records import PENDING, PRESENT, EvidenceRequestRecord
from fleet.watchlists.records import AlertRecord
from proto.oko.v1 import agent_pb2
from proto.oko.v1 import watchlists_pb2 as pb

if TYPE_CHECKING:
    from fleet.app import FleetApp
    from fleet.store.records import Device

log = logging.getLogger(__name__)
#: Requests sent and not yet answered, per stream.
WINDOW = 8
#: Publishes an alert's change durably on the event stream (see runtime.publish_alert).
Publish = Callable[[AlertRecord, int], Awaitable[None]]


def _now_us() -> int:
    return time.time_ns() // 1000


class EvidenceMetrics:
    """Counters of the evidence path, on the fleet's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requested = Counter(
            "oko_fleet_evidence_requests",
            "Evidence requests recorded (one per alert)",
            registry=registry,
        )
        self.sent = Counter(
            "oko_fleet_evidence_requests_sent",
            "Evidence requests sent to boxes (again after each reconnect until answered)",
            registry=registry,
        )
        self.answers = Counter(
            "oko_fleet_evidence_answers",
            "Evidence answers from boxes by outcome: present, unavailable (the box's reason), "
            "invalid (refused by the fleet's checks), unknown (no such pending request for "
            "that device), duplicate (already answered)",
            ["outcome"],
            registry=registry,
        )
        self.views = Counter(
            "oko_fleet_evidence_views",
            "GetAlertEvidence calls (each audited) by what they found",
            ["state"],
            registry=registry,
        )


def request_message(r: EvidenceRequestRecord) -> agent_pb2.FleetMessage:
    """The stream message asking the box for `r`'s shot."""
    return agent_pb2.FleetMessage(
        evidence_request=pb.EvidenceRequest(
            request_id=r.request_id,
            alert_id=r.alert_id,
            camera_id=r.camera_id,
            track_id=r.track_id,
            face_event_id=r.face_event_id,
            max_bytes=MAX_EVIDENCE_BYTES,
        )
    )


class EvidenceBroker:
    """One per server: records requests, sends them to boxes, takes in their answers."""

    def __init__(self, app: FleetApp, publish: Publish) -> None:
        self.app = app
        self.metrics = EvidenceMetrics(app.metrics.registry)
        self._publish = publish
        # request ids sent on each live stream and not answered yet; a new stream of the
        # same device starts empty, so whatever is still pending is sent again.
        self._sent: weakref.WeakKeyDictionary[Session, set[str]] = weakref.WeakKeyDictionary()
        # JPEG checks are CPU-bound: one at a time, off the event loop.
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="evidence-check")

    async def start(self) -> None:
        """Register with the agent streams; request evidence for alerts that have none."""
        self.app.on_agent_connect.append(self.pump)
        self.app.agent_messages["evidence"] = self.on_answer
        added = await self.app.store.request_missing_evidence(_now_us())
        if added:  # raised before the fleet asked for evidence at all
            log.info("evidence: requested the best shot of %d earlier alert(s)", added)

    async def stop(self) -> None:
        """Release the checking thread."""
        self._pool.shutdown(wait=True)

    async def raised(self, alert: AlertRecord) -> None:
        """A new alert is on the stream: send its request (the store made it with the alert)."""
        self.metrics.requested.inc()
        await self.pump(alert.device_id)

    async def pump(self, device_id: str) -> None:
        """Send the device's pending requests, up to `WINDOW` unanswered, if it is connected."""
        session = self.app.sessions.get(device_id)
        if session is None:
            return
        sent = self._sent.setdefault(session, set())
        if len(sent) >= WINDOW:
            return
        rows = await self.app.store.pending_evidence(device_id, WINDOW + len(sent))
        if self.app.sessions.get(device_id) is not session:
            return  # reconnected meanwhile: the new stream's own pump sends them
        for row in rows:  # no await from the check to the send: two pumps never both send
            if len(sent) >= WINDOW:
                break
            if row.request_id not in sent:
                sent.add(row.request_id)
                session.send(request_message(row))
                self.metrics.sent.inc()
                log.info(
                    "evidence: asked %s for the shot of alert %s (camera %s track %s)",
                    device_id,
                    row.alert_id,
                    row.camera_id,
                    row.track_id,
                )

    async def on_answer(self, device: Device, msg: pb.Evidence) -> None:
        """One `AgentMessage.evidence` from `device`'s stream: judge it, keep it, announce it."""
        session = self.app.sessions.get(device.device_id)
        if session is not None:
            self._sent.get(session, set()).discard(msg.request_id)
        meta = None
        if not text_problem("evidence.request_id", msg.request_id, MAX_ID_CHARS):
            meta = await self.app.store.get_evidence_request(msg.request_id)
        if meta is None or meta.request.device_id != device.device_id:
            self.metrics.answers.labels("unknown").inc()
            log.warning(
                "%s sent evidence for request %r, which is not pending for it (ignored)",
                device.device_id,
                msg.request_id[:64],
            )
            return
        if meta.state != PENDING:
            self.metrics.answers.labels("duplicate").inc()
            return
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(
            self._pool, judge, msg, meta.request, _now_us(), self.app.settings.limits
        )
        if not await self.app.store.answer_evidence(msg.request_id, answer):
            self.metrics.answers.labels("duplicate").inc()  # answered (or purged) meanwhile
            return
        outcome = "invalid" if answer.refused else answer.state
        self.metrics.answers.labels(outcome).inc()
        detail = (
            f"present {answer.width}x{answer.height} {len(answer.jpeg)} bytes "
            f"sha256 {answer.sha256}"
            if answer.state == PRESENT
            else f"unavailable: {answer.reason}"
        )
        await self.app.audit(device.device_id, "evidence.receive", meta.alert_id, detail)
        log.info("evidence for alert %s from %s: %s", meta.alert_id, device.device_id, detail)
        await self._announce(meta.alert_id)
        await self.pump(device.device_id)

    async def _announce(self, alert_id: str) -> None:
        try:
            alert = await self.app.store.get_alert(alert_id)
        except NotFoundError:
            return  # purged by retention meanwhile: nothing left to announce
        await self._publish(alert, pb.WatchlistAlert.CHANGE_EVIDENCE)

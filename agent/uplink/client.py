"""The box's one long-lived mTLS stream to the fleet (`AgentService.Connect`).

Up: Hello, then event batches from the spool (a bounded window of unacknowledged
batches), heartbeats, state reports, command results and evidence answers. Down: Welcome,
Acks, desired state, commands and evidence requests (the fleet asking for the face shot
of an alert; the box's evidence handler answers each from its shot stores). Events leave
the spool only when their batch's Ack arrives, and the fleet acks only after a durable
commit; after any failure the next session starts again from the oldest unacknowledged
event, and the fleet's dedup by event id turns those resends into exactly-once storage.
Sessions are retried forever with exponential backoff and jitter
(`agent.capture.pacing.Backoff`), so a fleet outage only makes the spool grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from agent import __version__
from agent.capture.pacing import Backoff
from agent.config.agent import FleetSection
from agent.errors import IdentityError, SpoolError, UplinkError
from agent.identity import AgentStore
from agent.spool import Priority, Spool, SpooledEvent
from agent.uplink.desired import DesiredStateApplier
from agent.uplink.hostinfo import cpu_percent, memory_percent
from agent.uplink.live import LiveLease, LiveSource, LiveViewer
from agent.uplink.renewal import RenewalError, Renewer, expired_message
from agent.uplink.uplink_metrics import AgentMetrics
from proto import transport
from proto.oko.v1 import agent_pb2, agent_pb2_grpc, console_pb2, events_pb2, models_pb2
from proto.oko.v1 import watchlists_pb2 as wl_pb2

log = logging.getLogger(__name__)

# The Connect stream as the grpc stubs type it: agent messages up, fleet messages down.
Stream = grpc.aio.StreamStreamCall[agent_pb2.AgentMessage, agent_pb2.FleetMessage]

CommandHandler = Callable[[agent_pb2.Command], agent_pb2.CommandResult]
HealthProvider = Callable[[], list[agent_pb2.CameraHealth]]
#: Answers one evidence request (runs on a worker thread; must not raise).
EvidenceHandler = Callable[[wl_pb2.EvidenceRequest], wl_pb2.Evidence]
_POLL_S = 1.0  # re-check the spool this often even when nobody calls notify()
_DRAIN_S = 10.0  # after a renewal, wait this long at most for in-flight batches' acks
_EXPIRED_LOG_EVERY_S = 600.0
RENEWED = "RENEWED"


class ModelHandler(Protocol):
    """What carries out the fleet's model assignments (`agent.models_update.ModelUpdater`)."""

    def assign(self, message: models_pb2.ModelAssignment) -> None:
        """Start on an assignment (on the uplink's loop; must not block)."""

    def report(self) -> models_pb2.ModelReport:
        """The slot's current report."""

    def set_reporter(self, reporter: Callable[[models_pb2.ModelReport], None] | None) -> None:
        """Where to send reports from now on (None: not connected)."""


def no_shots(request: wl_pb2.EvidenceRequest) -> wl_pb2.Evidence:
    """The answer of a box without cameras that keep face shots (tools, the offline demo)."""
    return wl_pb2.Evidence(
        request_id=request.request_id,
        camera_id=request.camera_id,
        track_id=request.track_id,
        face_event_id=request.face_event_id,
        status=wl_pb2.Evidence.STATUS_UNAVAILABLE,
        reason="this box keeps no face shots",
    )


class StreamEndedError(UplinkError):
    """The fleet closed the stream or broke the protocol; reconnect."""


class CertificateRenewedError(StreamEndedError):
    """The certificate was renewed: end this session, reconnect with the new one at once."""


class CertificateExpiredError(UplinkError):
    """The device certificate has expired: the box cannot connect until it is reissued."""


@dataclass
class _InFlight:
    batch_id: int
    event_ids: list[str]
    sent_at: float


@dataclass
class _Session:
    """State of one connected stream; discarded (never reused) when it ends."""

    call: Stream
    welcome: agent_pb2.Welcome
    window: asyncio.Semaphore
    stub: agent_pb2_grpc.AgentServiceAsyncStub
    in_flight: deque[_InFlight] = field(default_factory=deque)
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    live: LiveViewer = field(default_factory=LiveViewer)
    draining: asyncio.Event = field(default_factory=asyncio.Event)  # no new batches: renewed

    async def write(self, message: agent_pb2.AgentMessage) -> None:
        async with self.write_lock:  # grpc.aio allows one outstanding write per call
            await self.call.write(message)


def _now() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


def _stamp(event: events_pb2.Event, payload: bytes, welcome: agent_pb2.Welcome) -> None:
    """Parse a spooled event and give it the identity this session authenticated as.

    The spool outlives identities: events minted before enrollment carry no device id,
    and after `oko-agent enroll --force` (certificate rotation) they carry the old one,
    which the fleet rightly refuses from the new certificate - and a refused event is
    deleted. Every spooled event is this box's own, so it is stamped at send time with
    the device id and site of the Welcome: correct whenever the box was (re-)enrolled,
    even while the agent was running, and the fleet keeps refusing foreign identities.
    """
    event.MergeFromString(payload)
    if welcome.device_id:
        event.device_id = welcome.device_id
    if welcome.site:
        event.site = welcome.site


class UplinkClient:
    """Runs the stream until `stop` is set; create one per box."""

    def __init__(
        self,
        store: AgentStore,
        spool: Spool,
        settings: FleetSection,
        applier: DesiredStateApplier,
        metrics: AgentMetrics,
        *,
        camera_ids: Callable[[], list[str]] = list,
        camera_health: HealthProvider = list,
        command_handler: CommandHandler | None = None,
        evidence_handler: EvidenceHandler = no_shots,
        live_source: LiveSource | None = None,
    ) -> None:
        self._store = store
        self._spool = spool
        self.settings = settings
        self._applier = applier
        self._metrics = metrics
        self._camera_ids = camera_ids
        self._camera_health = camera_health
        self._command_handler = command_handler
        self._evidence_handler = evidence_handler
        self._live_source = live_source
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started_at = _now()
        self.models: ModelHandler | None = None  # set by the box that runs a detector
        self.sessions = 0  # successful Welcomes, for status and tests
        self.last_error: str | None = None  # why the last session ended, for /healthz
        self.connected = threading.Event()
        self.renewer = Renewer(store, lambda: self.settings, metrics)
        self._expired_logged: tuple[str, float] = ("", 0.0)

    def notify(self) -> None:
        """New events are in the spool: send them now. Safe to call from any thread.

        Never raises: once the uplink's loop has ended (stopped, or died - which the box
        turns into a non-zero exit) there is nobody to wake, and the camera that called
        must not pay for it.
        """
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed between the check and the call
                loop.call_soon_threadsafe(self._wake.set)

    def open_channel(self) -> grpc.aio.Channel:
        """A new mTLS channel to the agent port (model downloads use their own)."""
        target, creds = self._target()
        return grpc.aio.secure_channel(target, creds, options=transport.CLIENT_OPTIONS)

    def _target(self) -> tuple[str, grpc.ChannelCredentials]:
        identity = self._store.identity()
        if identity is None:
            raise UplinkError("this box is not enrolled; run `oko-agent enroll` first")
        pem = self._store.credentials()
        creds = grpc.ssl_channel_credentials(
            root_certificates=pem.ca, private_key=pem.private_key, certificate_chain=pem.certificate
        )
        return self.settings.agent or identity.agent_endpoint, creds

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, stream, and reconnect with backoff until `stop` is set.

        The identity is read again before every attempt, so a renewed certificate, or one
        `oko-agent enroll --force` installed beside the running agent, is used at once.
        """
        self._loop = asyncio.get_running_loop()
        target, creds = self._target()
        backoff = Backoff(self.settings.reconnect_min_s, self.settings.reconnect_max_s)
        while not stop.is_set():
            sessions_before = self.sessions
            target, creds = self._refreshed(target, creds)
            code = await self._attempt(target, creds, stop)
            if stop.is_set():
                break
            if code == RENEWED:
                continue  # not a failure: reconnect now, with the new certificate
            self._metrics.reconnects.labels(code=code).inc()
            if self.sessions > sessions_before:
                backoff.reset()
            delay = backoff.next_delay()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    def _refreshed(
        self, target: str, creds: grpc.ChannelCredentials
    ) -> tuple[str, grpc.ChannelCredentials]:
        try:
            return self._target()
        except (IdentityError, UplinkError) as err:  # e.g. an enroll writing the files now
            log.warning("identity unreadable (%s); trying the previous one", err)
            return target, creds

    async def _attempt(
        self, target: str, creds: grpc.ChannelCredentials, stop: asyncio.Event
    ) -> str:
        """One session; the code it ended with (for the reconnect metric)."""
        try:
            self._check_certificate()
            await self._connect(target, creds, stop)
        except CertificateRenewedError as err:
            log.info("%s; reconnecting with it", err)
            return RENEWED
        except CertificateExpiredError as err:
            self.last_error = str(err)
            self._log_expired(str(err))
            return "CERT_EXPIRED"
        except grpc.aio.AioRpcError as err:
            self.last_error = f"{target}: {err.code().name} {err.details() or ''}".strip()
            self._log_failure(target, err.code(), err.details())
            return err.code().name
        except (StreamEndedError, TimeoutError) as err:
            self.last_error = f"{target}: {type(err).__name__} {err}".strip()
            log.warning("uplink to %s ended: %s", target, err)
            return type(err).__name__
        except SpoolError as err:
            # A full or failing disk: an ack that could not be recorded is resent by the
            # next session (the fleet deduplicates it), so retrying is always safe.
            self.last_error = f"spool: {err}"
            self._metrics.spool_errors.inc()
            log.error("uplink paused: spool write failed: %s; retrying", err)
            return type(err).__name__
        finally:
            self.connected.clear()
            self._metrics.connected.set(0)
        return "OK"

    def _check_certificate(self) -> None:
        """Refuse to dial with an expired certificate: say what happened and what to do."""
        identity = self._store.identity()
        if identity is None:
            return
        self._metrics.cert_expiry.set(identity.not_after)
        now = time.time()
        if identity.not_after <= now:
            raise CertificateExpiredError(expired_message(identity, now))

    def _log_expired(self, message: str) -> None:
        """ERROR the first time and every 10 minutes after, not at every reconnect."""
        key = message.split(" (", 1)[0]  # device and expiry, without the growing "ago"
        last_key, last_at = self._expired_logged
        if key != last_key or time.monotonic() - last_at >= _EXPIRED_LOG_EVERY_S:
            log.error("%s", message)
            self._expired_logged = (key, time.monotonic())

    @staticmethod
    def _log_failure(target: str, code: grpc.StatusCode, details: str | None) -> None:
        if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
            log.error("fleet %s refused this box (%s: %s); revoked?", target, code.name, details)
        else:
            log.warning("uplink to %s failed: %s %s", target, code.name, details)

    async def _connect(
        self, target: str, creds: grpc.ChannelCredentials, stop: asyncio.Event
    ) -> None:
        compression = (
            grpc.Compression.Gzip
            if self.settings.compression == "gzip"
            else grpc.Compression.NoCompression
        )
        async with grpc.aio.secure_channel(
            target, creds, options=transport.CLIENT_OPTIONS, compression=compression
        ) as channel:
            stub = agent_pb2_grpc.AgentServiceStub(channel)
            call = stub.Connect()
            try:
                session = await self._handshake(call, stub)
                self._attach_models(session)
                await self._stream(session, stop)
            finally:
                if self.models is not None:
                    self.models.set_reporter(None)
                call.cancel()
                # Let grpc's own status task finish before the channel closes under it.
                with contextlib.suppress(grpc.aio.AioRpcError, asyncio.CancelledError):
                    await call.code()

    async def _handshake(
        self, call: Stream, stub: agent_pb2_grpc.AgentServiceAsyncStub
    ) -> _Session:
        hello = agent_pb2.Hello(
            agent_version=__version__,
            applied_version=self._applier.applied_version(),
            started_at=self._started_at,
            camera_ids=self._camera_ids(),
            protocol=transport.PROTOCOL_VERSION,
        )
        await call.write(agent_pb2.AgentMessage(hello=hello))
        first = await asyncio.wait_for(call.read(), self.settings.hello_timeout_s)
        # isinstance, not `is EOF`: the stubs type EOF as a class, so only this narrows.
        if not isinstance(first, agent_pb2.FleetMessage) or first.WhichOneof("body") != "welcome":
            raise StreamEndedError(f"expected Welcome, got {first!r}")
        welcome = first.welcome
        log.info("connected to fleet as %s (site %s)", welcome.device_id, welcome.site)
        self.sessions += 1
        self.connected.set()
        self._metrics.connected.set(1)
        self._metrics.applied_version.set(self._applier.applied_version())
        return _Session(call, welcome, asyncio.Semaphore(self.settings.max_in_flight), stub)

    async def _stream(self, session: _Session, stop: asyncio.Event) -> None:
        tasks = [
            asyncio.create_task(self._receive(session), name="uplink-receive"),
            asyncio.create_task(self._send_batches(session), name="uplink-send"),
            asyncio.create_task(self._heartbeats(session), name="uplink-heartbeat"),
            asyncio.create_task(self._live_frames(session), name="uplink-live"),
            asyncio.create_task(self._renew(session), name="uplink-renew"),
            asyncio.create_task(stop.wait(), name="uplink-stop"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    def _attach_models(self, session: _Session) -> None:
        """Send the model slot's report now and every later one on this session."""
        if self.models is None:
            return
        loop = asyncio.get_running_loop()

        def send(report: models_pb2.ModelReport) -> None:
            message = agent_pb2.AgentMessage(model_report=report)
            loop.call_soon_threadsafe(
                lambda: loop.create_task(self._write_quietly(session, message))
            )

        send(self.models.report())
        self.models.set_reporter(send)

    @staticmethod
    async def _write_quietly(session: _Session, message: agent_pb2.AgentMessage) -> None:
        """A report lost with its session is sent again (current) by the next one."""
        with contextlib.suppress(grpc.aio.AioRpcError, grpc.aio.UsageError, RuntimeError):
            await session.write(message)

    async def _renew(self, session: _Session) -> None:
        """Renew when due, let in-flight batches be acked, then end the session to reconnect.

        Draining first means every event of the old session is acknowledged once, instead
        of being resent (and deduplicated) by the next one.
        """
        try:
            await self.renewer.run(session.stub)
        except (IdentityError, RenewalError, ValueError) as err:
            log.error("certificate renewal stopped for this session: %s", err)
            await asyncio.Event().wait()  # keep streaming; the next session tries again
        session.draining.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _DRAIN_S
        while session.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.05)
        raise CertificateRenewedError("device certificate renewed")

    # -- down ------------------------------------------------------------------------------

    async def _receive(self, session: _Session) -> None:
        while True:
            message = await session.call.read()
            if not isinstance(message, agent_pb2.FleetMessage):  # grpc.aio.EOF
                raise StreamEndedError("fleet closed the stream")
            kind = message.WhichOneof("body")
            if kind == "ack":
                await self._on_ack(session, message.ack)
            elif kind == "desired":
                await self._on_desired(session, message.desired)
            elif kind == "command":
                await self._on_command(session, message.command)
            elif kind == "models" and self.models is not None:
                self.models.assign(message.models)
            elif kind == "evidence_request":
                await self._on_evidence(session, message.evidence_request)
            elif kind == "live_view":
                session.live.request(message.live_view)
                self._metrics.live_views.set(len(session.live.views))
            else:
                log.debug("ignoring fleet message %s", kind)

    async def _on_ack(self, session: _Session, ack: agent_pb2.Ack) -> None:
        if not session.in_flight or session.in_flight[0].batch_id != ack.batch_id:
            expected = session.in_flight[0].batch_id if session.in_flight else None
            raise StreamEndedError(f"Ack for batch {ack.batch_id}, expected {expected}")
        batch = session.in_flight.popleft()
        rejected = [
            r.event_id or batch.event_ids[r.index]
            for r in ack.rejected
            if r.event_id or r.index < len(batch.event_ids)
        ]
        for r in ack.rejected:
            log.warning("fleet rejected event %s: %s", r.event_id, r.reason)
        await asyncio.to_thread(self._spool.ack, batch.event_ids, rejected)
        self._metrics.ack_latency.observe(time.monotonic() - batch.sent_at)
        self._metrics.events_acked.inc(ack.accepted + ack.duplicates)
        self._metrics.duplicates.inc(ack.duplicates)
        session.window.release()

    async def _on_desired(self, session: _Session, desired: agent_pb2.DesiredState) -> None:
        outcome = await asyncio.to_thread(self._applier.apply, desired)
        if not outcome.report.ok:
            self._metrics.config_refused.inc()
        self._metrics.applied_version.set(outcome.report.applied_version)
        await session.write(agent_pb2.AgentMessage(state=outcome.report))

    async def _on_command(self, session: _Session, command: agent_pb2.Command) -> None:
        if command.kind in ("report_state", "reload_config"):
            report = await asyncio.to_thread(self._applier.report)
            await session.write(agent_pb2.AgentMessage(state=report))
            result = agent_pb2.CommandResult(command_id=command.command_id, ok=True)
        elif command.kind == "flush_spool":
            self._wake.set()  # send everything waiting now; never discards events
            result = agent_pb2.CommandResult(command_id=command.command_id, ok=True)
        elif self._command_handler is not None:
            result = await asyncio.to_thread(self._command_handler, command)
        else:
            result = agent_pb2.CommandResult(
                command_id=command.command_id,
                ok=False,
                message=f"unsupported command kind {command.kind!r}",
            )
        await session.write(agent_pb2.AgentMessage(command_result=result))

    async def _on_evidence(self, session: _Session, request: wl_pb2.EvidenceRequest) -> None:
        answer = await asyncio.to_thread(self._evidence_handler, request)
        await session.write(agent_pb2.AgentMessage(evidence=answer))

    # -- up --------------------------------------------------------------------------------

    async def _send_batches(self, session: _Session) -> None:
        limit = self.settings.batch_max_events
        if session.welcome.max_batch_events:
            limit = min(limit, session.welcome.max_batch_events)
        after_seq = 0  # a new session resends everything not yet acknowledged
        while True:
            await session.window.acquire()
            items = await self._next_batch(limit, after_seq)
            if session.draining.is_set():  # renewed: the next session sends these
                await asyncio.Event().wait()
            batch = events_pb2.EventBatch(batch_id=self._spool.next_batch_id())
            for item in items:
                _stamp(batch.events.add(), item.payload, session.welcome)
            session.in_flight.append(
                _InFlight(batch.batch_id, [i.event_id for i in items], time.monotonic())
            )
            await session.write(agent_pb2.AgentMessage(batch=batch))
            after_seq = items[-1].seq
            for item in items:
                self._metrics.events_sent.labels(camera=item.camera_id).inc()
                self._metrics.bytes_sent.labels(camera=item.camera_id).inc(len(item.payload))

    async def _next_batch(self, limit: int, after_seq: int) -> list[SpooledEvent]:
        """Wait for events after `after_seq`; linger so batches fill up - except for alerts.

        Batching is what makes gzip pay (bench/uplink.py: single-event messages cost twice
        the bytes of 10-event batches), so routine events wait up to `batch_linger_s` for
        company. An alert goes at once, taking whatever is waiting with it.
        """
        max_bytes = self.settings.batch_max_bytes
        loop = asyncio.get_running_loop()
        deadline: float | None = None  # set when the first event is seen; never extended
        while True:
            self._wake.clear()
            items = await asyncio.to_thread(self._spool.peek_batch, limit, max_bytes, after_seq)
            wait = _POLL_S
            if items:
                now = loop.time()
                if deadline is None:
                    deadline = now + self.settings.batch_linger_s
                full = len(items) >= limit or sum(len(i.payload) for i in items) * 2 > max_bytes
                urgent = any(i.priority is Priority.ALERT for i in items)
                if full or urgent or now >= deadline:
                    return items
                wait = deadline - now
            # notify() ends the wait early: more events may fill the batch or be an alert.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _live_frames(self, session: _Session) -> None:
        """Frames for the live views the fleet holds open, each at its own rate.

        Idle (waiting for a request) while no view is open: nothing is drawn, encoded or
        sent unless the fleet asked for it and keeps renewing the lease.
        """
        viewer = session.live
        try:
            while True:
                due, wait = viewer.due()
                self._metrics.live_views.set(len(viewer.views))
                for view in due:
                    frame = await asyncio.to_thread(self._live_frame, view)
                    # STOP may have come while it was drawn: then it is not sent.
                    if viewer.views.get(view.view_id) is view and viewer.fresh(view, frame):
                        await session.write(agent_pb2.AgentMessage(live_frame=frame))
                        self._metrics.live_frames.inc()
                viewer.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(viewer.changed.wait(), wait)
        finally:
            self._metrics.live_views.set(0)

    def _live_frame(self, view: LiveLease) -> console_pb2.LiveFrame:
        """One annotated frame of the view's camera (on a worker thread: drawing is CPU)."""
        if self._live_source is None:
            frame = console_pb2.LiveFrame(error="this agent has no cameras to show")
        else:
            try:
                frame = self._live_source(view.camera_id, view.max_width, view.max_bytes)
            except Exception as err:  # a drawing bug must not end the stream with the events
                log.exception("live view %s: drawing failed", view.view_id)
                frame = console_pb2.LiveFrame(error=f"drawing failed: {type(err).__name__}")
        frame.view_id = view.view_id
        frame.camera_id = view.camera_id
        return frame

    async def _heartbeats(self, session: _Session) -> None:
        interval = session.welcome.heartbeat_interval_seconds or transport.HEARTBEAT_INTERVAL_S
        while True:
            beat = agent_pb2.Heartbeat(
                sent_at=_now(),
                spool_depth=self._spool.depth(),
                spool_bytes=self._spool.bytes(),
                dropped_events=await asyncio.to_thread(self._spool.dropped_total),
                cameras=self._camera_health(),
                cpu_percent=cpu_percent(),
                memory_percent=memory_percent(),
            )
            await session.write(agent_pb2.AgentMessage(heartbeat=beat))
            await asyncio.sleep(interval)

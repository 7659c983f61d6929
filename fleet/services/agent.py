"""AgentService: enrollment and the one long-lived stream per box."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from fleet import admission, bus
from fleet.app import FleetApp, now_us
from fleet.auth import hash_secret, parse_token, secrets_match
from fleet.ca import IssuedCertificate
from fleet.errors import (
    FleetError,
    InvalidRequestError,
    StoreError,
    UnauthenticatedError,
)
from fleet.ingest import Rejection, admit
from fleet.mailbox import Mailbox
from fleet.models import fetch as model_fetch
from fleet.models import wire as model_wire
from fleet.redaction import mask_text
from fleet.services import certs, convert
from fleet.services.common import Context, abort, status_for
from fleet.sessions import Close, Session
from fleet.store.records import BatchOutcome, Device, StateReportRecord
from proto.oko.v1 import agent_pb2, agent_pb2_grpc, certs_pb2, models_pb2
from proto.tokens import ENROLL_PREFIX, advertised_agent_port
from proto.transport import HEARTBEAT_INTERVAL_S, MAX_BATCH_EVENTS, MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 16


def _new_device_id() -> str:
    return "dev-" + secrets.token_hex(8)


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    """The gRPC service boxes call: enrollment with a token, then one mTLS stream per box."""

    def __init__(self, app: FleetApp) -> None:
        self.app = app

    # Enroll ---------------------------------------------------------------------------
    async def Enroll(  # noqa: N802
        self, request: agent_pb2.EnrollRequest, context: Context
    ) -> agent_pb2.EnrollResponse:
        """Exchange a one-use enrollment token and a CSR for a device certificate."""
        try:
            return await self._enroll(request, context)
        except FleetError as err:
            await abort(context, err)

    async def _check_token(self, text: str) -> tuple[str, str]:
        """Read-only precheck, so a bad token costs no signing and writes nothing."""
        token_id, secret = parse_token(text, ENROLL_PREFIX)
        token = await self.app.store.get_enrollment_token(token_id)
        if token is None or not secrets_match(secret, token.secret_hash):
            raise UnauthenticatedError("enrollment token unknown")
        if token.used_us:
            raise UnauthenticatedError(f"enrollment token {token_id} was already used")
        if token.expires_us <= now_us():
            raise UnauthenticatedError(f"enrollment token {token_id} has expired")
        return token_id, secret

    async def _enroll(
        self, request: agent_pb2.EnrollRequest, context: Context
    ) -> agent_pb2.EnrollResponse:
        admission.check_enroll(request, self.app.settings.limits)  # before the token is spent
        token_id, secret = await self._check_token(request.token)
        bound = await self.app.store.reissue_binding(token_id)
        if bound is not None:  # `okoctl device reissue`: the same device, a new certificate
            device, issued = await certs.enroll_reissued(self.app, request, token_id, secret, bound)
            return await self._enrolled(device, issued, context)
        name = request.device_name.strip()
        device_id = _new_device_id()
        issued = self.app.ca.sign_csr(request.csr_pem, device_id, certs.lifetime(self.app))
        device = await self.app.store.enroll_device(
            token_id,
            hash_secret(secret),
            Device(
                device_id=device_id,
                name=name,
                site="",
                cert_serial=issued.serial_hex,
                cert_not_after_us=issued.not_after_us,
                enrolled_us=now_us(),
                hostname=request.hostname,
                agent_version=request.agent_version,
                labels=dict(request.labels),
            ),
        )
        await self.app.audit(f"token:{token_id}", "device.enroll", device_id, name)
        self.app.certs.refresher.touch()
        # %r for what a box or a caller sent: a log line can never be forged through it.
        log.info("enrolled %s (%r) at site %r", device_id, name, device.site)
        return await self._enrolled(device, issued, context)

    async def _enrolled(
        self, device: Device, issued: IssuedCertificate, context: Context
    ) -> agent_pb2.EnrollResponse:
        keys = await self.app.store.list_signing_keys()  # the box pins these
        return agent_pb2.EnrollResponse(
            device_id=device.device_id,
            certificate_pem=issued.pem,
            ca_pem=self.app.ca.pem,
            site=device.site,
            agent_endpoint=self._agent_endpoint(context),
            not_after=convert.ts(issued.not_after_us),
            model_signing_keys=[model_wire.key_to_proto(k) for k in keys],
        )

    def _agent_endpoint(self, context: Context) -> str:
        if self.app.settings.advertise_agent:
            return self.app.settings.advertise_agent
        # The bound port, not the configured one: `--agent-listen HOST:0` binds any port.
        port = self.app.agent_port or int(self.app.settings.agent_listen.rpartition(":")[2])
        return advertised_agent_port(port)

    # Connect --------------------------------------------------------------------------
    async def _identify(self, context: Context) -> Device:
        return (await certs.identify_peer(self.app, context, "Connect")).device

    # RenewCertificate -------------------------------------------------------------------
    async def RenewCertificate(  # noqa: N802
        self, request: certs_pb2.RenewCertificateRequest, context: Context
    ) -> certs_pb2.RenewCertificateResponse:
        """A new certificate for the calling device's new key (fleet.services.certs)."""
        return await certs.renew_rpc(self.app, request, context)

    # The stub wants an iterator of replies; this writes them with context.write instead,
    # which grpc.aio allows and which lets one task own every write to the stream.
    async def Connect(  # type: ignore[override]  # noqa: N802
        self, request_iterator: AsyncIterator[agent_pb2.AgentMessage], context: Context
    ) -> None:
        """The box's long-lived stream: events up, configs and models down, until it hangs up."""
        try:
            device = await self._identify(context)
        except FleetError as err:
            await abort(context, err)
        session = Session(device.device_id)
        self.app.sessions.add(session)
        await self.app.replication.notify(
            bus.SESSION, device_id=device.device_id, started_us=str(session.started_us)
        )
        self.app.metrics.connected.inc()
        stream = _Stream(self.app, device, session)
        reader = asyncio.create_task(stream.read(request_iterator), name=f"read-{device.device_id}")
        try:
            while True:
                item = await session.outbox.get()
                if isinstance(item, Close):
                    if item.code is not None:
                        await context.abort(item.code, item.detail)
                    return
                await context.write(item)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            self.app.sessions.remove(session)
            self.app.metrics.connected.dec()
            await self.app.replication.notify(
                bus.SESSION_END, device_id=device.device_id, started_us=str(session.started_us)
            )

    async def FetchModel(  # noqa: N802
        self, request: models_pb2.FetchModelRequest, context: Context
    ) -> AsyncIterator[models_pb2.ModelChunk]:
        """One file of a model version assigned to this box, from the offset it asks for."""
        try:
            device = await self._identify(context)
            async for chunk in model_fetch.chunks(self.app, device.device_id, request):
                yield chunk
        except FleetError as err:
            await abort(context, err)


def _all_refused(batch: Any, rejected: list[Rejection], reason: str) -> list[Rejection]:
    """The admission rejections plus every admitted event of the batch, refused for `reason`."""
    refused = {r.index for r in rejected}
    failed = [
        Rejection(i, e.event_id, reason) for i, e in enumerate(batch.events) if i not in refused
    ]
    return sorted([*rejected, *failed], key=lambda r: r.index)


class _Stream:
    """Reads one box's messages; acks its batches in order from a second task."""

    def __init__(self, app: FleetApp, device: Device, session: Session) -> None:
        self.app = app
        self.device = device
        self.session = session
        self.acks: Mailbox[tuple[Any, asyncio.Future[BatchOutcome], list[Rejection], float] | None]
        self.acks = Mailbox(MAX_IN_FLIGHT)

    async def read(self, messages: AsyncIterator[agent_pb2.AgentMessage]) -> None:
        acker = asyncio.create_task(self._ack_in_order())
        try:
            await self._read(aiter(messages))
            await self.acks.put(None)  # client finished sending: flush acks, end OK
            await acker
            self.session.close()
        except FleetError as err:
            # Reasons quote box-sent values escaped (fleet.admission), so one line each.
            log.warning("%s: stream refused: %s", self.device.device_id, err)
            self.session.close(status_for(err), str(err))
        except (grpc.aio.AioRpcError, grpc.aio.AbortError):
            self.session.close()  # the stream is already gone (or being aborted)
        except Exception:  # a bug must end the stream, not hang it
            log.exception("%s: stream handler failed", self.device.device_id)
            self.session.close(grpc.StatusCode.INTERNAL, "internal error")
        finally:
            acker.cancel()

    async def _read(self, messages: AsyncIterator[agent_pb2.AgentMessage]) -> None:
        try:
            first = await asyncio.wait_for(anext(messages), self.app.settings.hello_timeout_s)
        except (TimeoutError, StopAsyncIteration) as err:
            raise InvalidRequestError("stream must start with Hello") from err
        if first.WhichOneof("body") != "hello":
            kind = first.WhichOneof("body")
            raise InvalidRequestError(f"first message must be Hello, got {kind}")
        await self._hello(first.hello)
        async for message in messages:
            kind = message.WhichOneof("body")
            if kind == "batch":
                await self._batch(message.batch)
            elif kind == "heartbeat":
                await self._heartbeat(message.heartbeat)
            elif kind == "state":
                await self._state(message.state)
            elif kind == "command_result":
                r = message.command_result
                admission.check_command_result(r, self.app.settings.limits)
                await self.app.audit(
                    self.device.device_id, "command.result", r.command_id, f"ok={r.ok} {r.message}"
                )
            elif kind == "live_frame" and kind not in self.app.agent_messages:
                # No console runs (it registers the handler): live frames are best effort
                # and dropped, never a reason to end the box's stream.
                log.debug("%s: live frame but no console runs; dropped", self.device.device_id)
            elif kind is not None and kind in self.app.agent_messages:
                await self.app.agent_messages[kind](self.device, getattr(message, kind))
            else:
                raise InvalidRequestError(f"unexpected message {kind!r} after Hello")

    async def _heartbeat(self, beat: agent_pb2.Heartbeat) -> None:
        at = now_us()
        admission.check_heartbeat(beat, at, self.app.settings.limits)
        health = convert.health_from_proto(beat, at)
        await self.app.store.record_health(self.device.device_id, health)
        self.app.metrics.observe_health(self.device.device_id, health)

    async def _hello(self, hello: agent_pb2.Hello) -> None:
        app, device = self.app, self.device
        admission.check_hello(hello, app.settings.limits)
        await app.store.record_hello(device.device_id, hello.agent_version, now_us())
        if hello.HasField("started_at"):  # a new process start: the crash-loop gate counts them
            await app.store.record_start(
                device.device_id, convert.us_of(hello.started_at), now_us()
            )
        self.session.send(
            agent_pb2.FleetMessage(
                welcome=agent_pb2.Welcome(
                    device_id=device.device_id,
                    site=device.site,
                    server_time=convert.ts(now_us()),
                    max_batch_events=MAX_BATCH_EVENTS,
                    max_message_bytes=MAX_MESSAGE_BYTES,
                    heartbeat_interval_seconds=HEARTBEAT_INTERVAL_S,
                )
            )
        )
        desired = await app.store.get_desired(device.device_id)
        if desired is not None and desired.version != hello.applied_version:
            self.session.send(convert.desired_to_proto(desired))
        for hook in app.on_agent_connect:
            await hook(device.device_id)
        log.info(
            "%s connected (agent %r, runs config v%s)",
            device.device_id,
            hello.agent_version,
            hello.applied_version,
        )

    async def _batch(self, batch: Any) -> None:
        if len(batch.events) > MAX_BATCH_EVENTS:
            raise InvalidRequestError(
                f"batch {batch.batch_id} has {len(batch.events)} events, limit {MAX_BATCH_EVENTS}"
            )
        started = time.perf_counter()
        admitted, rejected = admit(
            batch.events, self.device.device_id, self.device.site, self.app.settings.limits
        )
        if rejected:
            self.app.metrics.rejected.inc(len(rejected))
            log.warning(
                "%s batch %s: %s event(s) rejected, first: %s",
                self.device.device_id,
                batch.batch_id,
                len(rejected),
                rejected[0].reason,
            )
        future = self.app.ingestor.submit(admitted)
        await self.acks.put((batch, future, rejected, started))

    async def _ack_in_order(self) -> None:
        while (item := await self.acks.get()) is not None:
            batch, future, rejected, started = item
            try:
                outcome = await future
            except StoreError as err:
                self.session.close(grpc.StatusCode.UNAVAILABLE, f"store unavailable: {err}")
                return
            if outcome.failed:  # the store refused the batch for good: every event, one reason
                rejected = _all_refused(batch, rejected, outcome.failed)
            self.session.send(
                agent_pb2.FleetMessage(
                    ack=agent_pb2.Ack(
                        batch_id=batch.batch_id,
                        accepted=outcome.accepted,
                        duplicates=outcome.duplicates,
                        last_cursor=outcome.last_cursor,
                        rejected=[
                            agent_pb2.RejectedEvent(
                                index=r.index, event_id=r.event_id, reason=r.reason
                            )
                            for r in rejected
                        ],
                    )
                )
            )
            self.app.metrics.batches.inc()
            self.app.metrics.ack_seconds.observe(time.perf_counter() - started)

    async def _state(self, state: agent_pb2.StateReport) -> None:
        admission.check_state(state, self.app.settings.limits)
        report = StateReportRecord(
            at_us=now_us(),
            applied_version=state.applied_version,
            document=state.document,
            attempted_version=state.attempted_version,
            ok=state.ok,
            error=state.error,
            detector_model=state.detector_model,
            detector_version=state.detector_version,
            detector_labels=tuple(state.detector_labels),
        )
        await self.app.store.record_state(self.device.device_id, report)
        if not state.ok:
            log.warning(
                "%s failed to apply config v%s: %r",
                self.device.device_id,
                state.attempted_version,
                mask_text(state.error),  # the box may quote its camera URL, password and all
            )

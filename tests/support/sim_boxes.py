"""Protocol-level simulated boxes: real enrolled certificates, real mTLS streams, no pipeline.

A `SimBox` is what the fleet sees of an edge box, without cameras or a detector: it
enrolls with its own key (CSR) and pins the fleet's model-signing keys, holds one
`AgentService.Connect` stream (Hello with its process start time, heartbeats with
per-camera detector latency), and answers every `ModelAssignment` the way a box does:
downloads the file with `FetchModel` (hashing it as it streams, keeping nothing in memory),
checks the manifest's Ed25519 signature by a pinned key, and the size and sha256 against
the signed entry, then reports running (or failed, with the reason) in `ModelReport`s. It
mints detection events (zone entries with a confidence) stamped with the model it runs,
at the rate and score distribution its `Behaviour` for that model version says: so a
"blind" version makes none. Unacknowledged event batches are kept and sent again after a
reconnect, like a spool.

Real agent processes cost ~150 MB and a core share each; these cost a coroutine, so a
rollout bench can run 20+ boxes on a 2-core machine. Used by the rollout tests and
`bench/rollout.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.timestamp_pb2 import Timestamp

from models.signing import SigningError, verify_manifest
from proto.oko.v1 import agent_pb2, agent_pb2_grpc, events_pb2, models_pb2
from proto.transport import CLIENT_OPTIONS

MAX_UNACKED = 10_000  # batches kept for resending, like a bounded spool
SHIPPED = models_pb2.ModelRef(name="nanodet-g", version="1.0.0", sha256="0" * 64, origin="shipped")


@dataclass(frozen=True)
class Behaviour:
    """How the box's cameras look through one model version."""

    rate_hz: float = 2.0  # detection events per second per camera
    score_mean: float = 0.6
    score_sd: float = 0.1
    inference_ms: float = 12.0


@dataclass
class Identity:
    """An enrolled box: key, certificate, CA and the signing keys it pinned."""

    device_id: str
    key_pem: bytes
    cert_pem: bytes
    ca_pem: bytes
    pinned: dict[str, bytes]


def _csr() -> tuple[bytes, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "sim-box")]))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, csr.public_bytes(serialization.Encoding.PEM).decode()


async def enroll(
    api: str, ca_pem: bytes, token: str, name: str, labels: dict[str, str] | None = None
) -> Identity:
    """Enroll one simulated box on the fleet's API port (TLS, server auth)."""
    key_pem, csr = _csr()
    creds = grpc.ssl_channel_credentials(root_certificates=ca_pem)
    async with grpc.aio.secure_channel(api, creds, options=CLIENT_OPTIONS) as channel:
        reply = await agent_pb2_grpc.AgentServiceStub(channel).Enroll(
            agent_pb2.EnrollRequest(
                token=token, csr_pem=csr, device_name=name, labels=labels or {}
            ),
            timeout=30,
        )
    pinned = {k.key_id: bytes(k.public_key) for k in reply.model_signing_keys}
    return Identity(
        reply.device_id, key_pem, reply.certificate_pem.encode(), reply.ca_pem.encode(), pinned
    )


def _now() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


def _ago(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(time.time_ns() - int(seconds * 1e9))
    return stamp


@dataclass
class SimBox:
    """One simulated box; `run()` until `stop()`; `restart()` is a process restart."""

    identity: Identity
    agent_address: str
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    cameras: tuple[str, ...] = ("cam-0",)
    heartbeat_s: float = 1.0
    seed: int = 0
    running: models_pb2.ModelRef = field(default_factory=models_pb2.ModelRef)
    previous: models_pb2.ModelRef = field(default_factory=models_pb2.ModelRef)
    bytes_fetched: int = 0
    dropped: int = 0  # batches the bounded spool gave up on
    started_at: Timestamp = field(default_factory=_now)
    reports: list[models_pb2.ModelReport] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _sequence: int = 0
    _batch: int = 0

    def __post_init__(self) -> None:
        if not self.running.name:
            self.running.CopyFrom(SHIPPED)
        self._rng = random.Random(self.seed)
        self._channel: grpc.aio.Channel | None = None
        self._last_report: models_pb2.ModelReport | None = None
        self._outbox = _Outbox([])
        self._unacked: dict[int, events_pb2.EventBatch] = {}

    @property
    def device_id(self) -> str:
        return self.identity.device_id

    def behaviour(self) -> Behaviour:
        return self.behaviours.get(self.running.version, Behaviour())

    # Stream -----------------------------------------------------------------------------
    def _open_channel(self) -> grpc.aio.Channel:
        ident = self.identity
        creds = grpc.ssl_channel_credentials(ident.ca_pem, ident.key_pem, ident.cert_pem)
        return grpc.aio.secure_channel(self.agent_address, creds, options=CLIENT_OPTIONS)

    def _opening(self) -> list[agent_pb2.AgentMessage]:
        """Hello, the last model report, then every batch not yet acknowledged (the spool)."""
        hello = agent_pb2.Hello(
            agent_version="sim",
            started_at=self.started_at,
            camera_ids=list(self.cameras),
            protocol=1,
        )
        report = self._last_report or self._report(0, "running")
        return [
            agent_pb2.AgentMessage(hello=hello),
            agent_pb2.AgentMessage(model_report=report),
            *(agent_pb2.AgentMessage(batch=b) for b in self._unacked.values()),
        ]

    async def run(self) -> None:
        """Stay connected (reconnecting after a fleet restart) until `stop()`.

        Events are made all along and kept until acknowledged, like a box's spool, so a
        fleet outage delays them but loses none.
        """
        producer = asyncio.create_task(self._events())
        try:
            while not self._stop.is_set():
                self._outbox = _Outbox(self._opening())
                self._channel = self._open_channel()
                try:
                    await self._session(self._channel)
                except grpc.aio.AioRpcError:
                    pass
                finally:
                    self._outbox.close()
                    await self._channel.close()
                if not self._stop.is_set():
                    await asyncio.sleep(0.2)
        finally:
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)

    async def _session(self, channel: grpc.aio.Channel) -> None:
        call = agent_pb2_grpc.AgentServiceStub(channel).Connect(self._outbox)
        tasks = [asyncio.create_task(self._heartbeats())]
        try:
            async for message in call:
                kind = message.WhichOneof("body")
                if kind == "models":
                    tasks.append(asyncio.create_task(self._assigned(channel, message.models)))
                elif kind == "ack":
                    self._unacked.pop(message.ack.batch_id, None)
                if self._stop.is_set():
                    break
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            call.cancel()

    def stop(self) -> None:
        self._stop.set()
        self._outbox.close()

    def restart(self) -> None:
        """A new agent process: a new start time, the stream reconnects."""
        self.started_at = _now()
        self._outbox.close()

    # Traffic ----------------------------------------------------------------------------
    async def _heartbeats(self) -> None:
        while True:
            cameras = [
                agent_pb2.CameraHealth(
                    camera_id=c,
                    online=True,
                    fps=5.0,
                    inference_ms=self.behaviour().inference_ms * self._rng.uniform(0.9, 1.1),
                    last_frame_at=_now(),
                )
                for c in self.cameras
            ]
            beat = agent_pb2.Heartbeat(sent_at=_now(), cameras=cameras)
            self._outbox.put_nowait(agent_pb2.AgentMessage(heartbeat=beat))
            await asyncio.sleep(self.heartbeat_s)

    def _event(self, camera: str, ago_s: float) -> events_pb2.Event:
        b = self.behaviour()
        self._sequence += 1
        event = events_pb2.Event(
            event_id=str(uuid.uuid4()),
            camera_id=camera,
            sequence=self._sequence,
            capture_time=_ago(ago_s),
            track_id=self._sequence,
            confidence=min(1.0, max(0.05, self._rng.gauss(b.score_mean, b.score_sd))),
            box=events_pb2.Box(x1=10, y1=20, x2=60, y2=180),
            models=[
                events_pb2.ModelVersion(
                    name=self.running.name, version=self.running.version, sha256=self.running.sha256
                )
            ],
        )
        event.zone.zone_id = "all"
        event.zone.kind = events_pb2.ZoneEvent.KIND_ENTER
        event.zone.label = "person"
        return event

    async def _events(self, period: float = 0.5) -> None:
        """Every period, a Poisson number of detections per camera, in one batch."""
        while True:
            await asyncio.sleep(period)
            rate = self.behaviour().rate_hz * period
            events = []
            for camera in self.cameras:  # spread over the period, in capture order
                ages = [self._rng.uniform(0, period) for _ in range(_poisson(self._rng, rate))]
                events += [self._event(camera, age) for age in sorted(ages, reverse=True)]
            if events:
                self._batch += 1
                batch = events_pb2.EventBatch(events=events, batch_id=self._batch)
                self._unacked[self._batch] = batch
                while len(self._unacked) > MAX_UNACKED:
                    self._unacked.pop(next(iter(self._unacked)))
                    self.dropped += 1
                self._outbox.put_nowait(agent_pb2.AgentMessage(batch=batch))

    # Models -----------------------------------------------------------------------------
    def _report(
        self,
        assignment_id: int,
        state: str,
        attempted: models_pb2.ModelRef | None = None,
        error: str = "",
        *,
        done: int = 0,
        total: int = 0,
    ) -> models_pb2.ModelReport:
        report = models_pb2.ModelReport(
            slot="detector",
            assignment_id=assignment_id,
            running=self.running,
            previous=self.previous,
            state=getattr(models_pb2, f"MODEL_STATE_{state.upper()}"),
            error=error,
            at=_now(),
            bytes_done=done,
            bytes_total=total,
        )
        if attempted is not None:
            report.attempted.CopyFrom(attempted)
        return report

    def _send_report(self, report: models_pb2.ModelReport) -> None:
        self._last_report = report
        self.reports.append(report)
        self._outbox.put_nowait(agent_pb2.AgentMessage(model_report=report))

    async def _fetch(self, channel: grpc.aio.Channel, art: models_pb2.ModelArtifact) -> _Fetched:
        """Stream the ONNX file, hashing as it comes (nothing is kept in memory)."""
        digest = hashlib.sha256()
        size = 0
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        request = models_pb2.FetchModelRequest(name=art.name, version=art.version, offset=0)
        async for chunk in stub.FetchModel(request, timeout=300):
            digest.update(chunk.data)
            size += len(chunk.data)
            self.bytes_fetched += len(chunk.data)
        return _Fetched(size, digest.hexdigest())

    def _check(self, a: models_pb2.ModelAssignment, got: _Fetched) -> str:
        art = a.artifact
        raw = self.identity.pinned.get(art.key_id)
        if raw is None:
            return f"signed by key {art.key_id}, which this box does not trust"
        try:
            verify_manifest(raw, art.manifest, art.signature)
        except SigningError as err:
            return str(err)
        signed = json.loads(art.manifest)
        if (signed.get("sha256"), signed.get("bytes")) != (art.sha256, art.size):
            return "the artifact's sha256 or size differs from its signed manifest entry"
        if got.size != art.size:
            return f"truncated: {got.size} of {art.size} bytes"
        if got.sha256 != art.sha256:
            return "sha256 mismatch (tampered)"
        return ""

    async def _assigned(self, channel: grpc.aio.Channel, a: models_pb2.ModelAssignment) -> None:
        art = a.artifact
        target = models_pb2.ModelRef(
            name=art.name, version=art.version, sha256=art.sha256, origin="fleet"
        )
        if (self.running.name, self.running.version) == (art.name, art.version):
            self._send_report(self._report(a.assignment_id, "running", target))
            return
        if a.rollback:
            if (self.previous.name, self.previous.version) != (art.name, art.version):
                error = f"no kept copy of {art.name}@{art.version} to roll back to"
                self._send_report(self._report(a.assignment_id, "failed", target, error))
                return
            self.running, self.previous = self.previous, self.running
            self._send_report(self._report(a.assignment_id, "rolled_back", target))
            return
        self._send_report(self._report(a.assignment_id, "downloading", target, total=art.size))
        try:
            got = await self._fetch(channel, art)
        except grpc.aio.AioRpcError as err:
            self._send_report(
                self._report(a.assignment_id, "failed", target, f"download: {err.details()}")
            )
            return
        self._send_report(self._report(a.assignment_id, "verifying", target, done=got.size))
        problem = self._check(a, got)
        if problem:
            self._send_report(self._report(a.assignment_id, "failed", target, problem))
            return
        self.previous, self.running = self.running, target
        self._send_report(self._report(a.assignment_id, "running", target))


@dataclass(frozen=True)
class _Fetched:
    size: int
    sha256: str


class _Outbox:
    """The request stream of one Connect call: what is queued, until closed."""

    def __init__(self, first: list[agent_pb2.AgentMessage]) -> None:
        self._queue: asyncio.Queue[agent_pb2.AgentMessage | None] = asyncio.Queue()
        for message in first:
            self._queue.put_nowait(message)
        self._closed = False

    def put_nowait(self, message: agent_pb2.AgentMessage) -> None:
        if not self._closed:
            self._queue.put_nowait(message)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)

    def __aiter__(self) -> _Outbox:
        return self

    async def __anext__(self) -> agent_pb2.AgentMessage:
        message = await self._queue.get()
        if message is None:
            raise StopAsyncIteration
        return message


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth), for small means."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


@contextlib.asynccontextmanager
async def running(boxes: list[SimBox]) -> AsyncIterator[list[SimBox]]:
    """Run every box in the current loop for the block; stop them all after it."""
    tasks = [asyncio.create_task(b.run(), name=f"sim-{b.device_id}") for b in boxes]
    try:
        yield boxes
    finally:
        for b in boxes:
            b.stop()
        _, pending = await asyncio.wait(tasks, timeout=10)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

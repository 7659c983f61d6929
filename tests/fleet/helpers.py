"""Real fleet servers and real clients for the fleet tests: TLS on loopback, no mocks."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.timestamp_pb2 import Timestamp

from fleet.config import FleetSettings
from fleet.server import FleetServer, start_server
from proto.oko.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    agent_pb2,
    agent_pb2_grpc,
    events_pb2,
    stream_pb2_grpc,
)
from proto.transport import CLIENT_OPTIONS, bearer_metadata
from tests.support.pg import store_url_for

#: OKO_TEST_STORE=postgresql runs every fleet started through `settings_for` on a
#: PostgreSQL store (a database per data dir in one session-wide cluster, tests/support/pg.py).
TEST_STORE = os.environ.get("OKO_TEST_STORE", "sqlite")


def store_for(data_dir: Path, kind: str = TEST_STORE) -> str:
    """The `store` setting of a test fleet on `kind` ('sqlite' or 'postgresql')."""
    if kind == "postgresql":
        return store_url_for(str(data_dir.resolve()))
    if kind != "sqlite":
        raise ValueError(f"OKO_TEST_STORE={kind!r}: expected sqlite or postgresql")
    return ""


def settings_for(data_dir: Path, **overrides: object) -> FleetSettings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "listen": "127.0.0.1:0",
        "agent_listen": "127.0.0.1:0",
        "metrics_listen": "",
    }
    if "store" not in overrides:
        values["store"] = store_for(data_dir)
    values.update(overrides)
    return FleetSettings.model_validate(values)


async def start_fleet(data_dir: Path, **overrides: object) -> FleetServer:
    return await start_server(settings_for(data_dir, **overrides))


def ca_pem(data_dir: Path) -> bytes:
    return (data_dir / "ca" / "ca.pem").read_bytes()


def api_channel(port: int, ca: bytes) -> grpc.aio.Channel:
    creds = grpc.ssl_channel_credentials(root_certificates=ca)
    return grpc.aio.secure_channel(f"localhost:{port}", creds, options=CLIENT_OPTIONS)


@dataclass
class Identity:
    device_id: str
    key_pem: bytes
    cert_pem: bytes
    ca_pem: bytes
    site: str

    def channel(self, port: int) -> grpc.aio.Channel:
        creds = grpc.ssl_channel_credentials(self.ca_pem, self.key_pem, self.cert_pem)
        return grpc.aio.secure_channel(f"localhost:{port}", creds, options=CLIENT_OPTIONS)


def make_csr() -> tuple[bytes, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "box")]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode()


async def enrollment_token(
    channel: grpc.aio.Channel, admin: str, site: str = "site-a", ttl: int = 3600
) -> str:
    stub = admin_pb2_grpc.AdminServiceStub(channel)
    reply = await stub.CreateEnrollmentToken(
        admin_pb2.CreateEnrollmentTokenRequest(site=site, ttl_seconds=ttl),
        metadata=bearer_metadata(admin),
        timeout=10,
    )
    return reply.token


async def enroll(channel: grpc.aio.Channel, token: str, name: str = "box-1") -> Identity:
    key_pem, csr = make_csr()
    reply = await agent_pb2_grpc.AgentServiceStub(channel).Enroll(
        agent_pb2.EnrollRequest(token=token, csr_pem=csr, device_name=name), timeout=10
    )
    return Identity(
        reply.device_id, key_pem, reply.certificate_pem.encode(), reply.ca_pem.encode(), reply.site
    )


async def new_device(
    server: FleetServer, admin: str, ca: bytes, name: str = "box-1", site: str = "site-a"
) -> Identity:
    async with api_channel(server.api_port, ca) as channel:
        return await enroll(channel, await enrollment_token(channel, admin, site), name)


def event(
    camera_id: str, sequence: int, kind: str = "line_crossing", embedding_dims: int = 512
) -> events_pb2.Event:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    msg = events_pb2.Event(
        event_id=str(uuid.uuid4()),
        camera_id=camera_id,
        sequence=sequence,
        capture_time=stamp,
        track_id=sequence,
        confidence=0.8,
        box=events_pb2.Box(x1=1, y1=2, x2=30, y2=60),
    )
    if kind == "face":
        msg.face.embedding = bytes(2 * embedding_dims)
        msg.face.encoding = events_pb2.Face.ENCODING_FLOAT16
        msg.face.dimensions = embedding_dims
    elif kind == "zone":
        msg.zone.zone_id = "z1"
        msg.zone.kind = events_pb2.ZoneEvent.KIND_ENTER
    else:
        msg.line_crossing.line_id = "gate"
        msg.line_crossing.label = "person"
    return msg


class AgentStream:
    """A minimal real agent stream: Hello, batches, read replies. Not the production
    uplink client (that lives in agent/), just enough to drive the server."""

    def __init__(
        self, channel: grpc.aio.Channel, applied_version: int = 0, hello: bool = True
    ) -> None:
        self._outbox: asyncio.Queue[agent_pb2.AgentMessage | None] = asyncio.Queue()
        if hello:
            self._outbox.put_nowait(
                agent_pb2.AgentMessage(
                    hello=agent_pb2.Hello(
                        agent_version="test", applied_version=applied_version, protocol=1
                    )
                )
            )
        self.call = agent_pb2_grpc.AgentServiceStub(channel).Connect(self._requests())
        # When the call ends (refused, revoked, channel closed) the request generator must
        # end too: left suspended in `get()`, grpc.aio's consumer task outlives the test and
        # the loop's teardown fails on it ("aclose(): asynchronous generator is already
        # running").
        self.call.add_done_callback(lambda _call: self._outbox.put_nowait(None))
        self._next_batch = 1

    async def _requests(self) -> AsyncIterator[agent_pb2.AgentMessage]:
        while (msg := await self._outbox.get()) is not None:
            yield msg

    def send(self, msg: agent_pb2.AgentMessage) -> None:
        self._outbox.put_nowait(msg)

    def send_batch(self, events: list[events_pb2.Event]) -> int:
        batch_id = self._next_batch
        self._next_batch += 1
        self.send(
            agent_pb2.AgentMessage(batch=events_pb2.EventBatch(events=events, batch_id=batch_id))
        )
        return batch_id

    def close(self) -> None:
        self._outbox.put_nowait(None)

    async def next(self, kind: str, timeout: float = 10) -> agent_pb2.FleetMessage:
        """The next message of `kind`, skipping others."""

        async def _read() -> agent_pb2.FleetMessage:
            while True:
                msg = await self.call.read()
                if not isinstance(msg, agent_pb2.FleetMessage):  # grpc.aio.EOF
                    raise EOFError("stream ended")
                if msg.WhichOneof("body") == kind:
                    return msg

        return await asyncio.wait_for(_read(), timeout)


def admin_stub(channel: grpc.aio.Channel) -> admin_pb2_grpc.AdminServiceAsyncStub:
    return admin_pb2_grpc.AdminServiceStub(channel)


def event_stub(channel: grpc.aio.Channel) -> stream_pb2_grpc.EventServiceAsyncStub:
    return stream_pb2_grpc.EventServiceStub(channel)

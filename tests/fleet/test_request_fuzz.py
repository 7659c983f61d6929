"""Random bytes as the request of every unary RPC, over real TLS and without credentials:
each is answered with a status naming the caller's fault, never UNKNOWN or INTERNAL, never
with a traceback in the log, and the fleet keeps serving (issue 9, defect 11).

Seeded, so a failure names a payload that reproduces it; bounded (a few hundred calls).
"""

from __future__ import annotations

import logging
import random

import grpc
import pytest

from proto.oko.v1 import admin_pb2, agent_pb2, certs_pb2, stream_pb2, webhooks_pb2
from proto.transport import bearer_metadata
from tests.fleet.conftest import Fleet
from tests.fleet.helpers import admin_stub

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

CALLERS_FAULT = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
}


def _unary_methods() -> list[str]:
    methods = []
    for module, service in (
        (admin_pb2, "AdminService"),
        (agent_pb2, "AgentService"),
        (stream_pb2, "EventService"),
        (webhooks_pb2, "WebhookService"),
        (certs_pb2, "CertificateService"),
    ):
        desc = module.DESCRIPTOR.services_by_name[service]
        methods += [
            f"/{desc.full_name}/{m.name}"
            for m in desc.methods
            if not m.client_streaming and not m.server_streaming
        ]
    return methods


def _payloads(rng: random.Random) -> list[bytes]:
    out = [b"", b"\xff", b"\xff\xff", b"\x0a\xff\xff\xff\xff\x0f", b"\x12\x03\xc3\x28\x00"]
    out += [rng.randbytes(rng.randint(1, 64)) for _ in range(15)]
    return out


async def test_random_requests_get_the_callers_fault_and_no_traceback(
    fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    rng = random.Random(9)
    methods = _unary_methods()
    assert len(methods) >= 15
    for method in methods:
        call = fleet.api.unary_unary(method, request_serializer=bytes, response_deserializer=bytes)
        for payload in _payloads(rng):
            try:
                await call(payload, timeout=10)
            except grpc.aio.AioRpcError as err:
                assert err.code() in CALLERS_FAULT, (method, payload, err.code(), err.details())
            else:  # only a call that needs no credentials may succeed
                raise AssertionError(f"{method} accepted {payload!r} without credentials")
    assert "Traceback" not in caplog.text
    status = await admin_stub(fleet.api).GetStatus(
        admin_pb2.GetStatusRequest(), metadata=bearer_metadata(fleet.admin), timeout=10
    )
    assert status.version

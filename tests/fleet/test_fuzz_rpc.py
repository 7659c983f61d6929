"""Fuzz every RPC's request handling over real gRPC/TLS against a real `oko-fleet serve`.

Hypothesis builds requests from the descriptors (hostile strings, integer extremes, NaN,
absurd times, long lists; see proto_strategies.py) and sends them as no one, a viewer and
the admin, and as an enrolled box on its mutual-TLS stream. Every answer must be OK or a
status that names the caller's mistake: never UNKNOWN, INTERNAL or UNAVAILABLE (a bug or a
crash), never a traceback in the details, never a hang. Afterwards the fleet still serves
a well-behaved box and every fleet-wide view.

Bounded in time: a fixed number of examples per RPC, no per-example deadline (the machine
is shared), a few seconds per test. Undecodable bytes are issue 9 defect 11, not here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proto.oko.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    agent_pb2,
    certs_pb2,
    events_pb2,
    models_pb2,
    stream_pb2,
    stream_pb2_grpc,
    webhooks_pb2,
)
from proto.transport import CLIENT_OPTIONS, bearer_metadata
from tests.fleet import helpers
from tests.fleet.helpers import Identity
from tests.fleet.proto_strategies import messages
from tests.support.fleet import FleetCli
from tests.support.net import free_port

pytestmark = pytest.mark.timeout(300)
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,  # nothing written into the work tree; every run explores afresh
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Statuses that say "your request was wrong / not allowed"; anything else is a fleet bug.
CALLER_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
SERVICES = [
    agent_pb2.DESCRIPTOR.services_by_name["AgentService"],
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"],
    stream_pb2.DESCRIPTOR.services_by_name["EventService"],
    webhooks_pb2.DESCRIPTOR.services_by_name["WebhookService"],
    certs_pb2.DESCRIPTOR.services_by_name["CertificateService"],
    models_pb2.DESCRIPTOR.services_by_name["ModelService"],
]
METHODS = [m for service in SERVICES for m in service.methods]
UNARY = [m for m in METHODS if not m.client_streaming and not m.server_streaming]
SERVER_STREAMING = [m for m in METHODS if m.server_streaming and not m.client_streaming]


@dataclass
class Target:
    fleet: FleetCli
    api: grpc.Channel
    agent: grpc.Channel
    box: Identity
    viewer: str

    def callers(self) -> list[tuple[tuple[str, str], ...]]:
        return [(), bearer_metadata(self.viewer), bearer_metadata(self.fleet.admin_token)]


async def _enroll(fleet: FleetCli) -> tuple[Identity, str]:
    async with helpers.api_channel(int(fleet.api.rsplit(":", 1)[1]), fleet.ca) as api:
        box = await helpers.enroll(api, await helpers.enrollment_token(api, fleet.admin_token))
        viewer = await admin_pb2_grpc.AdminServiceStub(api).CreateApiToken(
            admin_pb2.CreateApiTokenRequest(name="wall", role=admin_pb2.ROLE_VIEWER),
            metadata=bearer_metadata(fleet.admin_token),
        )
    return box, viewer.token


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    fleet = FleetCli(tmp_path_factory.mktemp("fuzz") / "fleet", free_port(), free_port())
    fleet.start()
    box, viewer = asyncio.run(_enroll(fleet))
    api = grpc.secure_channel(
        fleet.api, grpc.ssl_channel_credentials(root_certificates=fleet.ca), options=CLIENT_OPTIONS
    )
    creds = grpc.ssl_channel_credentials(box.ca_pem, box.key_pem, box.cert_pem)
    agent = grpc.secure_channel(f"localhost:{fleet.agent_port}", creds, options=CLIENT_OPTIONS)
    try:
        yield Target(fleet, api, agent, box, viewer)
    finally:
        api.close()
        agent.close()
        fleet.stop()


def _path(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def _assert_caller_error(err: grpc.RpcError, what: str, *also: grpc.StatusCode) -> None:
    code = err.code()
    details = err.details() or ""
    assert code in CALLER_ERRORS | set(also), f"{what}: {code.name} {details[:300]!r}"
    assert "Traceback" not in details, what


@pytest.mark.parametrize("method", UNARY, ids=lambda m: m.name)
@FUZZ
@given(data=st.data())
def test_unary_requests(target: Target, method: MethodDescriptor, data: st.DataObject) -> None:
    request = data.draw(messages(method.input_type), label="request")
    caller = data.draw(st.sampled_from(target.callers()), label="caller")
    call: Any = target.api.unary_unary(
        _path(method),
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=GetMessageClass(method.output_type).FromString,
    )
    try:
        call(request, metadata=caller, timeout=10)
    except grpc.RpcError as err:
        _assert_caller_error(err, method.name)


@pytest.mark.parametrize("method", SERVER_STREAMING, ids=lambda m: m.name)
@FUZZ
@given(data=st.data())
def test_server_streaming_requests(
    target: Target, method: MethodDescriptor, data: st.DataObject
) -> None:
    request = data.draw(messages(method.input_type), label="request")
    caller = data.draw(st.sampled_from(target.callers()), label="caller")
    call: Any = target.api.unary_stream(
        _path(method),
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=GetMessageClass(method.output_type).FromString,
    )
    try:
        for _ in call(request, metadata=caller, timeout=0.5):
            pass
    except grpc.RpcError as err:  # a valid subscription simply waits for more events
        _assert_caller_error(err, method.name, grpc.StatusCode.DEADLINE_EXCEEDED)


def _agent_messages() -> st.SearchStrategy[list[Any]]:
    any_message = messages(agent_pb2.AgentMessage.DESCRIPTOR)
    hello = messages(agent_pb2.Hello.DESCRIPTOR).map(lambda h: agent_pb2.AgentMessage(hello=h))
    batch = st.lists(messages(events_pb2.Event.DESCRIPTOR), max_size=5).map(
        lambda events: agent_pb2.AgentMessage(batch=events_pb2.EventBatch(events=events))
    )
    return st.one_of(
        st.lists(any_message, max_size=4),  # anything, Hello or not
        st.tuples(hello, st.lists(st.one_of(any_message, batch), max_size=4)).map(
            lambda t: [t[0], *t[1]]
        ),
    )


@FUZZ
@given(stream=_agent_messages())
def test_agent_stream_messages(target: Target, stream: list[agent_pb2.AgentMessage]) -> None:
    connect: Any = target.agent.stream_stream(
        "/oko.v1.AgentService/Connect",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=agent_pb2.FleetMessage.FromString,
    )
    try:
        for _ in connect(iter(stream), timeout=10):
            pass
    except grpc.RpcError as err:
        _assert_caller_error(err, "Connect")


@FUZZ
@given(request=messages(certs_pb2.RenewCertificateRequest.DESCRIPTOR))
def test_renewal_requests_on_the_mutual_tls_port(
    target: Target, request: certs_pb2.RenewCertificateRequest
) -> None:
    """As the enrolled box itself: a hostile CSR is refused, never a fleet error."""
    renew: Any = target.agent.unary_unary(
        "/oko.v1.AgentService/RenewCertificate",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=certs_pb2.RenewCertificateResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as err:  # no random text is a valid CSR for this box
        renew(request, timeout=10)
    _assert_caller_error(err.value, "RenewCertificate")


@FUZZ
@given(request=messages(models_pb2.FetchModelRequest.DESCRIPTOR))
def test_model_fetches_on_the_mutual_tls_port(
    target: Target, request: models_pb2.FetchModelRequest
) -> None:
    """As the enrolled box itself: nothing is assigned to it, so nothing is served."""
    fetch: Any = target.agent.unary_stream(
        "/oko.v1.AgentService/FetchModel",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=models_pb2.ModelChunk.FromString,
    )
    with pytest.raises(grpc.RpcError) as err:
        list(fetch(request, timeout=10))
    _assert_caller_error(err.value, "FetchModel")


@FUZZ
@given(stream=st.lists(messages(models_pb2.PushModelRequest.DESCRIPTOR), max_size=5))
def test_model_pushes(target: Target, stream: list[models_pb2.PushModelRequest]) -> None:
    """Hostile push streams from anyone: refused with a caller's error, nothing stored."""
    push: Any = target.api.stream_unary(
        "/oko.v1.ModelService/PushModel",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=models_pb2.ModelInfo.FromString,
    )
    for caller in target.callers():
        with pytest.raises(grpc.RpcError) as err:  # no trusted key: nothing can be signed
            push(iter(stream), metadata=caller, timeout=10)
        _assert_caller_error(err.value, "PushModel")


def test_every_rpc_is_fuzzed() -> None:
    assert len(UNARY) + len(SERVER_STREAMING) + 2 == len(METHODS)  # + Connect, PushModel


def test_the_fleet_still_serves_everyone_after_the_fuzzing(target: Target) -> None:
    """Runs last in this module: the fuzzed fleet acknowledges a good box and answers
    every view (the box the fuzzer drove included)."""

    async def good_box() -> int:
        async with target.box.channel(target.fleet.agent_port) as channel:
            stream = helpers.AgentStream(channel)
            stream.send_batch([helpers.event("cam-1", 1)])
            ack = (await stream.next("ack")).ack
            stream.close()
            return ack.accepted

    assert asyncio.run(good_box()) == 1
    admin = admin_pb2_grpc.AdminServiceStub(target.api)
    meta = bearer_metadata(target.fleet.admin_token)
    admin.ListDevices(admin_pb2.ListDevicesRequest(), metadata=meta, timeout=10)
    admin.ListCameras(admin_pb2.ListCamerasRequest(), metadata=meta, timeout=10)
    admin.GetStatus(admin_pb2.GetStatusRequest(), metadata=meta, timeout=10)
    device = admin.GetDevice(
        admin_pb2.GetDeviceRequest(device_id=target.box.device_id), metadata=meta, timeout=10
    )
    assert device.device_id == target.box.device_id
    admin.GetConfig(admin_pb2.GetConfigRequest(device_id=target.box.device_id), metadata=meta)
    query = stream_pb2.QueryRequest(limit=1000)
    events = stream_pb2_grpc.EventServiceStub(target.api).Query(query, metadata=meta, timeout=10)
    assert any(e.event.camera_id == "cam-1" for e in events.events)

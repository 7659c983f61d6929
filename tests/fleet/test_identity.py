"""Identity and access: enrollment tokens, device certificates, revocation, roles.

Every refusal is checked for its status code *and* for having written nothing.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from cryptography import x509

from fleet.ca import CertificateAuthority
from proto.oko.v1 import admin_pb2, agent_pb2, agent_pb2_grpc
from proto.transport import bearer_metadata
from tests.fleet.conftest import Fleet
from tests.fleet.helpers import (
    AgentStream,
    Identity,
    admin_stub,
    enroll,
    enrollment_token,
    event,
    make_csr,
    new_device,
)

pytestmark = pytest.mark.anyio


async def _devices(fleet: Fleet) -> list[admin_pb2.Device]:
    """The device listing without `certificate_days_left`, which the clock alone moves."""
    reply = await admin_stub(fleet.api).ListDevices(
        admin_pb2.ListDevicesRequest(), metadata=bearer_metadata(fleet.admin)
    )
    for device in reply.devices:
        device.ClearField("certificate_days_left")
    return list(reply.devices)


async def _code_of(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    return info.value.code()


async def test_enroll_issues_a_device_certificate_that_opens_the_agent_stream(fleet: Fleet) -> None:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca, name="gate-7", site="north")
    cert = x509.load_pem_x509_certificate(ident.cert_pem)
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == ident.device_id
    assert ident.site == "north"
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        welcome = (await stream.next("welcome")).welcome
        assert welcome.device_id == ident.device_id and welcome.site == "north"
        stream.close()
    devices = await _devices(fleet)
    assert [(d.device_id, d.name, d.site) for d in devices] == [
        (ident.device_id, "gate-7", "north")
    ]


async def test_enrollment_token_is_single_use(fleet: Fleet) -> None:
    token = await enrollment_token(fleet.api, fleet.admin)
    await enroll(fleet.api, token, "first")
    code = await _code_of(enroll(fleet.api, token, "second"))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert [d.name for d in await _devices(fleet)] == ["first"]


async def test_expired_enrollment_token_is_refused(fleet: Fleet) -> None:
    token = await enrollment_token(fleet.api, fleet.admin, ttl=1)
    await asyncio.sleep(1.1)
    assert await _code_of(enroll(fleet.api, token)) == grpc.StatusCode.UNAUTHENTICATED
    assert await _devices(fleet) == []


async def test_forged_or_malformed_enrollment_token_is_refused(fleet: Fleet) -> None:
    token = await enrollment_token(fleet.api, fleet.admin)
    prefix, token_id, _secret, pin = token.split(".")
    forged = f"{prefix}.{token_id}.{'A' * 43}.{pin}"
    assert await _code_of(enroll(fleet.api, forged)) == grpc.StatusCode.UNAUTHENTICATED
    assert await _code_of(enroll(fleet.api, "not-a-token")) == grpc.StatusCode.UNAUTHENTICATED
    assert await _devices(fleet) == []
    await enroll(fleet.api, token)  # the real token was not spent by the forgeries


async def test_bad_csr_is_invalid_argument_and_does_not_spend_the_token(fleet: Fleet) -> None:
    token = await enrollment_token(fleet.api, fleet.admin)
    stub = agent_pb2_grpc.AgentServiceStub(fleet.api)
    bad = agent_pb2.EnrollRequest(
        token=token, csr_pem="-----BEGIN CERTIFICATE REQUEST-----\nxx", device_name="box"
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Enroll(bad, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "csr_pem" in (info.value.details() or "")
    assert await _devices(fleet) == []
    await enroll(fleet.api, token)


async def test_connect_without_client_certificate_is_refused(fleet: Fleet) -> None:
    # On the API port TLS succeeds without a client certificate; the RPC itself refuses.
    stream = AgentStream(fleet.api)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stream.next("welcome")
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # On the agent port the TLS handshake itself demands a certificate.
    creds = grpc.ssl_channel_credentials(root_certificates=fleet.ca)
    async with grpc.aio.secure_channel(f"localhost:{fleet.server.agent_port}", creds) as channel:
        stream = AgentStream(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stream.next("welcome")
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_certificate_from_another_ca_is_refused(fleet: Fleet, tmp_path) -> None:
    stranger = CertificateAuthority.load_or_create(tmp_path / "other-ca")
    key_pem, csr = make_csr()
    cert = stranger.sign_csr(csr, "dev-impostor")
    ident = Identity("dev-impostor", key_pem, cert.pem.encode(), fleet.ca, "x")
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stream.next("welcome")
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_revocation_cuts_a_connected_box_and_refuses_it_afterwards(fleet: Fleet) -> None:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        await stream.next("welcome")
        stream.send_batch([event("cam-1", 1)])
        assert (await stream.next("ack")).ack.accepted == 1
        await admin_stub(fleet.api).RevokeDevice(
            admin_pb2.RevokeDeviceRequest(device_id=ident.device_id, reason="stolen"),
            metadata=bearer_metadata(fleet.admin),
            timeout=10,
        )
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stream.next("ack", timeout=5)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    (before,) = await _devices(fleet)
    async with ident.channel(fleet.server.agent_port) as channel:
        # Nothing is sent before the verdict: a client still writing when the server ends
        # the call may see its own send failure (INTERNAL) instead of the server's status.
        again = AgentStream(channel, hello=False)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await again.next("welcome", timeout=5)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await fleet.server.app.store.stats()).events == 1
    (device,) = await _devices(fleet)
    assert device == before  # not even "last seen" moved
    assert device.status == "revoked" and device.revoked_reason == "stolen"


async def _api_token(fleet: Fleet, role: int) -> str:
    reply = await admin_stub(fleet.api).CreateApiToken(
        admin_pb2.CreateApiTokenRequest(name=f"role-{role}", role=role),  # type: ignore[arg-type]
        metadata=bearer_metadata(fleet.admin),
        timeout=10,
    )
    return reply.token


async def test_roles_are_checked_per_call_and_refusals_write_nothing(fleet: Fleet) -> None:
    viewer = await _api_token(fleet, admin_pb2.ROLE_VIEWER)
    operator = await _api_token(fleet, admin_pb2.ROLE_OPERATOR)
    stub = admin_stub(fleet.api)
    create = admin_pb2.CreateEnrollmentTokenRequest(site="s", ttl_seconds=60)
    list_tokens = admin_pb2.ListTokensRequest()
    before = len((await stub.ListTokens(list_tokens, metadata=bearer_metadata(fleet.admin))).tokens)

    await stub.ListDevices(admin_pb2.ListDevicesRequest(), metadata=bearer_metadata(viewer))
    assert (
        await _code_of(stub.CreateEnrollmentToken(create, metadata=bearer_metadata(viewer)))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert (
        await _code_of(
            stub.CreateApiToken(
                admin_pb2.CreateApiTokenRequest(name="x", role=admin_pb2.ROLE_ADMIN),
                metadata=bearer_metadata(operator),
            )
        )
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert await _code_of(stub.CreateEnrollmentToken(create)) == grpc.StatusCode.UNAUTHENTICATED
    assert (
        await _code_of(
            stub.CreateEnrollmentToken(
                create, metadata=bearer_metadata("okoa.0011223344556677.wrong")
            )
        )
        == grpc.StatusCode.UNAUTHENTICATED
    )
    assert (
        await _code_of(
            stub.CreateEnrollmentToken(create, metadata=(("authorization", "Basic abc"),))
        )
        == grpc.StatusCode.UNAUTHENTICATED
    )

    after = len((await stub.ListTokens(list_tokens, metadata=bearer_metadata(fleet.admin))).tokens)
    assert after == before
    await stub.CreateEnrollmentToken(create, metadata=bearer_metadata(operator))


async def test_expired_api_token_is_refused(fleet: Fleet) -> None:
    reply = await admin_stub(fleet.api).CreateApiToken(
        admin_pb2.CreateApiTokenRequest(name="short", role=admin_pb2.ROLE_ADMIN, ttl_seconds=1),
        metadata=bearer_metadata(fleet.admin),
        timeout=10,
    )
    await asyncio.sleep(1.1)
    code = await _code_of(
        admin_stub(fleet.api).GetStatus(
            admin_pb2.GetStatusRequest(), metadata=bearer_metadata(reply.token)
        )
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_audit_log_records_changes_in_an_unbroken_chain(fleet: Fleet) -> None:
    await new_device(fleet.server, fleet.admin, fleet.ca)
    count = await fleet.server.app.store.verify_audit()  # type: ignore[attr-defined]
    assert count >= 3  # bootstrap token, enrollment token, enrollment


async def test_enrollment_advertises_the_bound_agent_port(fleet: Fleet) -> None:
    """The fleet here listens on port 0; boxes must be told the port it really got."""
    token = await enrollment_token(fleet.api, fleet.admin)
    _, csr = make_csr()
    reply = await agent_pb2_grpc.AgentServiceStub(fleet.api).Enroll(
        agent_pb2.EnrollRequest(token=token, csr_pem=csr, device_name="box-port"), timeout=10
    )
    assert reply.agent_endpoint == f":{fleet.server.agent_port}"
    assert fleet.server.agent_port != 0

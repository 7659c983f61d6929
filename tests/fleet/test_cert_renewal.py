"""AgentService.RenewCertificate against a real fleet over mutual TLS on loopback.

* a renewal gives a certificate for the same device, new key, the configured lifetime;
  the old certificate works until the new one is first used, then never again;
* a lost reply (the box renews again with its old certificate) keeps exactly the
  certificate the box holds valid and voids the one it never received;
* a revoked device cannot renew (PERMISSION_DENIED, audited), also with its grace
  certificate; bad CSRs are INVALID_ARGUMENT naming the problem and change nothing;
* renewals are rate-limited per device, without touching another device;
* no client certificate (the API port) is UNAUTHENTICATED.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from proto.oko.v1 import admin_pb2, agent_pb2_grpc, certs_pb2, watchlists_pb2
from proto.oko.v1 import watchlists_pb2_grpc as wl_grpc
from proto.transport import bearer_metadata
from tests.fleet.cert_helpers import (
    csr_for,
    refused,
    renew,
    renewed_identity,
    welcome,
)
from tests.fleet.conftest import Fleet, running_fleet
from tests.fleet.helpers import Identity, admin_stub, new_device

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


async def _device(fleet: Fleet, device_id: str) -> admin_pb2.Device:
    return await admin_stub(fleet.api).GetDevice(
        admin_pb2.GetDeviceRequest(device_id=device_id),
        metadata=bearer_metadata(fleet.admin),
        timeout=10,
    )


async def _audit(fleet: Fleet, action: str) -> list[watchlists_pb2.AuditRecord]:
    reply = await wl_grpc.WatchlistServiceStub(fleet.api).ListAudit(
        watchlists_pb2.ListAuditRequest(action=action, limit=100),
        metadata=bearer_metadata(fleet.admin),
        timeout=10,
    )
    return list(reply.records)


async def test_renewal_keeps_the_device_and_retires_the_old_certificate_on_first_use(
    tmp_path: Path,
) -> None:
    async with running_fleet(tmp_path / "f", certificates={"device_days": 2.0}) as fleet:
        port = fleet.server.agent_port
        box = await new_device(fleet.server, fleet.admin, fleet.ca)
        old_serial = format(x509.load_pem_x509_certificate(box.cert_pem).serial_number, "x")
        renewed = await renewed_identity(box, port)
        cert = x509.load_pem_x509_certificate(renewed.cert_pem)
        cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        assert cn == box.device_id
        life = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert 2 * 86_400 <= life.total_seconds() <= 2 * 86_400 + 301  # + backdating
        new_serial = format(cert.serial_number, "x")
        device = await _device(fleet, box.device_id)
        assert device.certificate_serial == new_serial
        assert device.certificate_pending_serial == new_serial
        assert device.certificate_renewals == 1
        assert 1.99 < device.certificate_days_left <= 2.0

        assert await welcome(box, port) == box.device_id  # old: still accepted (grace)
        assert await welcome(renewed, port) == box.device_id  # new: first use
        assert await refused(box, port) == grpc.StatusCode.UNAUTHENTICATED  # old: retired
        device = await _device(fleet, box.device_id)
        assert device.certificate_pending_serial == ""
        entries = await _audit(fleet, "device.cert.renew")
        assert [(e.actor, e.detail) for e in entries] == [
            (box.device_id, f"{old_serial} -> {new_serial}")
        ]


async def test_a_lost_reply_keeps_the_certificate_the_box_holds(fleet: Fleet) -> None:
    port = fleet.server.agent_port
    box = await new_device(fleet.server, fleet.admin, fleet.ca)
    never_received = await renewed_identity(box, port)  # the reply that got lost
    kept = await renewed_identity(box, port)  # the box tries again with its old certificate
    assert await refused(never_received, port) == grpc.StatusCode.UNAUTHENTICATED
    assert await welcome(box, port) == box.device_id  # still its old one until it switches
    assert await welcome(kept, port) == box.device_id
    assert await refused(box, port) == grpc.StatusCode.UNAUTHENTICATED
    device = await _device(fleet, box.device_id)
    assert device.certificate_renewals == 2 and device.certificate_pending_serial == ""


async def test_a_revoked_device_cannot_renew_not_even_with_its_grace_certificate(
    fleet: Fleet,
) -> None:
    port = fleet.server.agent_port
    box = await new_device(fleet.server, fleet.admin, fleet.ca)
    renewed = await renewed_identity(box, port)  # box now holds two accepted certificates
    await admin_stub(fleet.api).RevokeDevice(
        admin_pb2.RevokeDeviceRequest(device_id=box.device_id, reason="stolen"),
        metadata=bearer_metadata(fleet.admin),
        timeout=10,
    )
    for holder in (box, renewed):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await renew(holder, port, csr_for(box.device_id)[1])
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "revoked" in (err.value.details() or "")
        assert await refused(holder, port) == grpc.StatusCode.PERMISSION_DENIED
    denied = await _audit(fleet, "device.cert.renew.denied")
    assert [e.target for e in denied] == [box.device_id, box.device_id]
    device = await _device(fleet, box.device_id)
    assert device.certificate_renewals == 1


def _bad_csrs(device_id: str, current_key: ec.EllipticCurvePrivateKey) -> list[tuple[str, str]]:
    """(CSR, what the refusal must name) for each way a renewal CSR can be wrong."""
    _, wrong_cn = csr_for("dev-someone-else")
    _, ed = csr_for(device_id, ed25519.Ed25519PrivateKey.generate())
    _, weak = csr_for(device_id, rsa.generate_private_key(public_exponent=65537, key_size=1024))
    _, curve = csr_for(device_id, ec.generate_private_key(ec.SECP256K1()))
    _, same_key = csr_for(device_id, current_key)
    return [
        (wrong_cn, "subject CN 'dev-someone-else' is not this device's id"),
        (ed, "key type"),
        (weak, "RSA key of 1024 bits"),
        (curve, "EC curve secp256k1 not allowed"),
        (same_key, "reuses the key"),
        ("x" * 20_000, "limit 16384"),
        ("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "valid"),
        ("\x00\xff garbage", "not a valid PKCS#10"),
        ("", "empty"),
    ]


async def test_bad_csrs_are_refused_naming_the_problem_and_change_nothing(tmp_path: Path) -> None:
    async with running_fleet(tmp_path / "f", certificates={"renewals_per_hour": 100}) as fleet:
        port = fleet.server.agent_port
        box = await new_device(fleet.server, fleet.admin, fleet.ca)
        before = await _device(fleet, box.device_id)
        current = serialization.load_pem_private_key(box.key_pem, password=None)
        assert isinstance(current, ec.EllipticCurvePrivateKey)
        for csr, named in _bad_csrs(box.device_id, current):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await renew(box, port, csr)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, named
            details = err.value.details() or ""
            assert "csr_pem" in details and named in details, (named, details)
        after = await _device(fleet, box.device_id)
        assert after.certificate_serial == before.certificate_serial
        assert after.certificate_renewals == 0
        assert await welcome(box, port) == box.device_id  # and the box still works


async def test_renewals_are_rate_limited_per_device(tmp_path: Path) -> None:
    async with running_fleet(tmp_path / "f", certificates={"renewals_per_hour": 2}) as fleet:
        port = fleet.server.agent_port
        box = await new_device(fleet.server, fleet.admin, fleet.ca, name="busy")
        other = await new_device(fleet.server, fleet.admin, fleet.ca, name="quiet")
        with pytest.raises(grpc.aio.AioRpcError):  # a refused attempt counts too
            await renew(box, port, "garbage")
        renewed = await renewed_identity(box, port)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await renew(renewed, port, csr_for(box.device_id)[1])
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "limit 2" in (err.value.details() or "")
        assert "retry in" in (err.value.details() or "")
        await renewed_identity(other, port)  # another device is not held back
        assert await welcome(renewed, port) == box.device_id


async def test_renewal_needs_a_client_certificate(fleet: Fleet) -> None:
    stub = agent_pb2_grpc.AgentServiceStub(fleet.api)  # API port: server-side TLS only
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RenewCertificate(
            certs_pb2.RenewCertificateRequest(csr_pem=csr_for("dev-x")[1]), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "mutual TLS" in (err.value.details() or "")


async def test_enrollment_uses_the_configured_lifetime(tmp_path: Path) -> None:
    async with running_fleet(tmp_path / "f", certificates={"device_days": 0.5}) as fleet:
        box: Identity = await new_device(fleet.server, fleet.admin, fleet.ca)
        cert = x509.load_pem_x509_certificate(box.cert_pem)
        left = cert.not_valid_after_utc.timestamp() - time.time()
        assert 43_100 < left <= 43_200

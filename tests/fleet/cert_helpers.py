"""Keys, CSRs and calls for the certificate renewal tests (real TLS, no mocks)."""

from __future__ import annotations

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from proto.oko.v1 import agent_pb2, agent_pb2_grpc, certs_pb2, certs_pb2_grpc
from proto.transport import bearer_metadata
from tests.fleet.helpers import AgentStream, Identity

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def csr_for(cn: str, key: PrivateKey | None = None) -> tuple[PrivateKey, str]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .sign(key, algorithm)
    )
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


async def renew(box: Identity, port: int, csr_pem: str) -> certs_pb2.RenewCertificateResponse:
    async with box.channel(port) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        return await stub.RenewCertificate(
            certs_pb2.RenewCertificateRequest(csr_pem=csr_pem), timeout=15
        )


async def renewed_identity(box: Identity, port: int) -> Identity:
    """`box` after a successful renewal with a fresh key: a new identity, same device."""
    key, csr = csr_for(box.device_id)
    reply = await renew(box, port, csr)
    return Identity(
        box.device_id, key_pem(key), reply.certificate_pem.encode(), box.ca_pem, box.site
    )


async def welcome(box: Identity, port: int) -> str:
    """Connect with `box`'s certificate; the device id the fleet welcomed (raises if refused)."""
    async with box.channel(port) as channel:
        stream = AgentStream(channel)
        try:
            message = await stream.next("welcome")
        finally:
            stream.close()
        return str(message.welcome.device_id)


async def refused(box: Identity, port: int) -> grpc.StatusCode:
    """The status a Connect with `box`'s certificate is refused with.

    Nothing is sent before the verdict: a client still writing when the server ends the
    call may see its own send failure (INTERNAL) instead of the server's status.
    """
    async with box.channel(port) as channel:
        stream = AgentStream(channel, hello=False)
        try:
            await stream.next("welcome", timeout=10)
        except grpc.aio.AioRpcError as err:
            return err.code()
        finally:
            stream.close()
    raise AssertionError(f"{box.device_id}: the fleet accepted this certificate")


async def reissue(
    channel: grpc.aio.Channel, token: str, device_id: str, ttl: int = 600
) -> certs_pb2.ReissueDeviceResponse:
    return await certs_pb2_grpc.CertificateServiceStub(channel).ReissueDevice(
        certs_pb2.ReissueDeviceRequest(device_id=device_id, ttl_seconds=ttl, note="rma 7"),
        metadata=bearer_metadata(token),
        timeout=10,
    )


async def enroll_with(channel: grpc.aio.Channel, token: str) -> tuple[Identity, PrivateKey]:
    key, csr = csr_for("whatever")
    reply = await agent_pb2_grpc.AgentServiceStub(channel).Enroll(
        agent_pb2.EnrollRequest(token=token, csr_pem=csr, device_name="again"), timeout=10
    )
    box = Identity(
        reply.device_id,
        key_pem(key),
        reply.certificate_pem.encode(),
        reply.ca_pem.encode(),
        reply.site,
    )
    return box, key

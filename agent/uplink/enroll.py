"""Enrollment: make a key on the box, send a CSR with a one-time token, keep the certificate.

The private key is generated here and never leaves the box; the fleet only ever sees the
CSR. Trust in the fleet comes from either a CA file given out of band or, when the box was
given nothing but the token, from the token's CA pin: the box takes the CA certificate the
server presents in its TLS chain and accepts it only if its SHA-256 (DER) starts with the
pin *and* it signed the server's certificate (trust on first use, pinned by the token).
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent import __version__
from agent.config.agent import parse_endpoint
from agent.errors import EnrollError
from agent.identity import AgentStore, Credentials, Identity
from agent.models_update.keys import PinnedKeys
from models.signing import PublicKey
from proto import tokens, transport
from proto.oko.v1 import agent_pb2, agent_pb2_grpc

log = logging.getLogger(__name__)

# What `verify_directly_issued_by` raises for "not issued by this CA" in its several forms.
_NOT_ISSUED = (InvalidSignature, ValueError, TypeError)


@dataclass(frozen=True)
class EnrollmentToken:
    """`oko1.<token_id>.<secret>.<ca_pin>` (`proto.tokens`) as `okoctl token create` prints it."""

    raw: str
    token_id: str
    ca_pin: str


def parse_token(text: str) -> EnrollmentToken:
    """Check the token's shape before using the network; the error says what is wrong."""
    raw = text.strip()
    try:
        parts = tokens.parse_enrollment_token(raw)
    except tokens.TokenFormatError as err:
        raise EnrollError(f"token: {err} (as okoctl prints it)") from None
    return EnrollmentToken(raw=raw, token_id=parts.token_id, ca_pin=parts.ca_pin)


def ca_fingerprint(cert: x509.Certificate) -> str:
    """Hex SHA-256 of the DER certificate: what the token's pin is a prefix of."""
    return tokens.certificate_fingerprint(cert.public_bytes(serialization.Encoding.DER))


def _load_pem(data: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as err:
        raise EnrollError(f"{what}: not a PEM certificate: {err}") from err


def check_ca_pin(ca_pem: bytes, pin: str, what: str) -> x509.Certificate:
    """Refuse a CA whose fingerprint does not start with the token's pin."""
    cert = _load_pem(ca_pem, what)
    fingerprint = ca_fingerprint(cert)
    if not tokens.pin_matches(fingerprint, pin):
        raise EnrollError(
            f"{what}: CA fingerprint {tokens.ca_pin(fingerprint)} does not match the token's pin "
            f"{pin}; refusing to trust it"
        )
    return cert


def fetch_pinned_ca(host: str, port: int, pin: str, timeout: float = 10.0) -> bytes:
    """Learn the fleet CA from the server's TLS chain, accepted only if it matches `pin`."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # verified below, against the pin, by hand
    context.set_alpn_protocols(["h2"])
    try:
        with (
            socket.create_connection((host.strip("[]"), port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=host.strip("[]")) as tls,
        ):
            # Python 3.13 made this public; 3.11/3.12 only have it on the C object.
            chain = tls._sslobj.get_unverified_chain() or []  # type: ignore[attr-defined]
            ders = [c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain]  # type: ignore[attr-defined]
    except OSError as err:
        raise EnrollError(f"fleet {host}:{port} unreachable for the TLS handshake: {err}") from err
    certs = [x509.load_der_x509_certificate(d) for d in ders]
    if not certs:
        raise EnrollError(f"fleet {host}:{port} presented no certificate")
    for candidate in certs:
        if tokens.pin_matches(ca_fingerprint(candidate), pin):
            try:
                certs[0].verify_directly_issued_by(candidate)
            except _NOT_ISSUED as err:
                raise EnrollError(f"pinned CA did not sign the server certificate: {err}") from err
            return candidate.public_bytes(serialization.Encoding.PEM)
    raise EnrollError(
        f"fleet {host}:{port} did not present a CA matching the token's pin {pin}; "
        "pass the CA with --ca-file"
    )


def make_key_and_csr(device_name: str) -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A fresh P-256 key and a CSR for it (the fleet replaces the CN with the device id)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_name[:64] or "oko-box")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


_GRPC_REASONS = {
    grpc.StatusCode.UNAUTHENTICATED: "token unknown, expired or already used",
    grpc.StatusCode.INVALID_ARGUMENT: "fleet refused the request",
    grpc.StatusCode.UNAVAILABLE: "fleet unreachable",
    grpc.StatusCode.DEADLINE_EXCEEDED: "fleet did not answer in time",
}


def call_enroll(
    endpoint: str, ca_pem: bytes, request: agent_pb2.EnrollRequest
) -> agent_pb2.EnrollResponse:
    """The Enroll RPC over server-authenticated TLS, with the contract's deadline."""
    creds = grpc.ssl_channel_credentials(root_certificates=ca_pem)
    with grpc.secure_channel(endpoint, creds, options=transport.CLIENT_OPTIONS) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        try:
            response: agent_pb2.EnrollResponse = stub.Enroll(
                request, timeout=transport.ENROLL_DEADLINE_S, wait_for_ready=False
            )
            return response
        except grpc.RpcError as err:
            code = err.code()
            reason = _GRPC_REASONS.get(code, "enrollment failed")
            detail = err.details()
            raise EnrollError(f"{endpoint}: {reason} ({code.name}: {detail})") from err


def _check_response(
    response: agent_pb2.EnrollResponse, key: ec.EllipticCurvePrivateKey, trusted_ca: bytes
) -> x509.Certificate:
    cert = _load_pem(response.certificate_pem.encode(), "device certificate from the fleet")
    if cert.public_key() != key.public_key():
        raise EnrollError("the fleet returned a certificate for a different key")
    ca = _load_pem(trusted_ca, "fleet CA")
    if response.ca_pem and ca_fingerprint(_load_pem(response.ca_pem.encode(), "ca_pem")) != (
        ca_fingerprint(ca)
    ):
        raise EnrollError("the fleet returned a different CA than the one it was trusted by")
    try:
        cert.verify_directly_issued_by(ca)
    except _NOT_ISSUED as err:
        raise EnrollError(f"device certificate not signed by the fleet CA: {err}") from err
    return cert


def enroll(
    store: AgentStore,
    fleet: str,
    token: str,
    *,
    ca_file: Path | None = None,
    device_name: str = "",
    labels: dict[str, str] | None = None,
    force: bool = False,
) -> Identity:
    """Enroll this box with the fleet at `fleet` (host:port of its API port)."""
    existing = store.identity()
    if existing is not None and not force:
        raise EnrollError(f"already enrolled as {existing.device_id}; pass --force to enroll again")
    parsed = parse_token(token)
    try:
        host, port = parse_endpoint(fleet, default_port=transport.DEFAULT_API_PORT)
    except ValueError as err:
        raise EnrollError(f"--fleet: {err}") from err
    if ca_file is not None:
        try:
            ca_pem = ca_file.read_bytes()
        except OSError as err:
            raise EnrollError(f"{ca_file}: cannot read CA file: {err}") from err
        check_ca_pin(ca_pem, parsed.ca_pin, str(ca_file))
    else:
        ca_pem = fetch_pinned_ca(host, port, parsed.ca_pin)
    name = device_name or socket.gethostname()
    key, csr_pem = make_key_and_csr(name)
    request = agent_pb2.EnrollRequest(
        token=parsed.raw,
        csr_pem=csr_pem,
        device_name=name,
        hostname=socket.gethostname(),
        agent_version=__version__,
        labels=labels or {},
    )
    response = call_enroll(f"{host}:{port}", ca_pem, request)
    cert = _check_response(response, key, ca_pem)
    identity = Identity(
        device_id=response.device_id,
        site=response.site,
        fleet_api=f"{host}:{port}",
        agent_endpoint=tokens.resolve_agent_endpoint(response.agent_endpoint, host),
        not_after=cert.not_valid_after_utc.timestamp(),
        enrolled_at=time.time(),
        cert_sha256=ca_fingerprint(cert),
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    store.save_identity(identity, Credentials(key_pem, response.certificate_pem.encode(), ca_pem))
    # Pinned from now on: a model signed by any other key (not endorsed by one of these)
    # is refused by this box, whatever the fleet says later.
    pinned = PinnedKeys(store.identity_dir).pin(
        PublicKey(k.key_id, bytes(k.public_key), k.name) for k in response.model_signing_keys
    )
    if not pinned:
        log.warning("the fleet trusts no model-signing key yet: model updates will be refused")
    log.info(
        "enrolled as %s (site %s), certificate valid until %s",
        identity.device_id,
        identity.site,
        dt.datetime.fromtimestamp(identity.not_after, dt.UTC).isoformat(),
    )
    return identity

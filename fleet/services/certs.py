"""Device certificates after enrollment: who a peer is, renewal, reissue (certs.proto).

* `identify_peer`: the device behind a mutual-TLS call (Connect, RenewCertificate). The
  newest certificate and, after a renewal, the previous one are accepted; the first call
  with the newest retires the previous one.
* `renew`: AgentService.RenewCertificate. The peer certificate says which device; the CSR
  must name that device and carry a new key; the fleet signs it for the configured
  lifetime. Revoked devices are refused and audited; attempts are rate-limited per device.
* `enroll_reissued`: Enroll with a token from `okoctl device reissue`: same device id,
  new certificate, every older certificate void.
* `CertificateServicer`: CertificateService.ReissueDevice (API port, admin).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

import grpc

from fleet import bus
from fleet.app import FleetApp, now_us
from fleet.auth import MAX_ENROLL_TTL_S, Principal, Role, hash_secret, mint_enrollment_token
from fleet.ca import IssuedCertificate, check_renewal_csr, serial_from_pem
from fleet.cert_lifecycle import days_left
from fleet.errors import (
    CertificateError,
    FleetError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    UnauthenticatedError,
)
from fleet.services import convert
from fleet.services.common import Context, Guarded, abort, guarded
from fleet.store.cert_records import REISSUE, RENEW, CertIssue, CertSummary, ReissueRequest
from fleet.store.records import REVOKED, Device, EnrollmentToken
from proto.oko.v1 import admin_pb2, agent_pb2, certs_pb2, certs_pb2_grpc

log = logging.getLogger(__name__)

DEFAULT_REISSUE_TTL_S = 3600
_NOTE_CHARS = 128


class RevokedDeviceError(PermissionDeniedError):
    """The presented certificate belongs to a revoked device; `who` names it."""

    def __init__(self, who: str) -> None:
        super().__init__(f"device {who} has been revoked")
        self.who = who


@dataclass(frozen=True)
class Peer:
    """An authenticated box: its device and the certificate it presented."""

    device: Device
    serial: str
    cert_pem: str


def peer_certificate(context: Context, call: str) -> tuple[str, str]:
    """(serial, PEM) of the client certificate TLS verified; UNAUTHENTICATED without one."""
    pems = context.auth_context().get("x509_pem_cert")
    if not pems:
        raise UnauthenticatedError(
            f"no client certificate: {call} needs mutual TLS on the agent port"
        )
    raw = next(iter(pems))
    pem = raw.decode() if isinstance(raw, bytes) else str(raw)
    return serial_from_pem(pem), pem


def lifetime(app: FleetApp) -> dt.timedelta:
    """How long certificates issued now last (`certificates.device_days`)."""
    return dt.timedelta(days=app.settings.certificates.device_days)


async def _lookup(app: FleetApp, serial: str) -> Device:
    """The device presenting `serial`; PERMISSION_DENIED if revoked (the caller audits)."""
    match = await app.store.device_by_certificate(serial)
    if serial in app.revocations or (match is not None and match.device.status == REVOKED):
        raise RevokedDeviceError(match.device.device_id if match is not None else serial)
    if match is None:
        raise UnauthenticatedError(f"certificate serial {serial} is not known to this fleet")
    device = match.device
    if match.current and match.superseded:
        await app.store.certificate_first_used(device.device_id, serial, now_us())
        log.info(
            "%s: first use of renewed certificate %s; the previous one is no longer accepted",
            device.device_id,
            serial,
        )
    return device


async def identify_peer(app: FleetApp, context: Context, call: str = "Connect") -> Peer:
    """The device behind a mutual-TLS call."""
    serial, pem = peer_certificate(context, call)
    return Peer(await _lookup(app, serial), serial, pem)


async def renew(
    app: FleetApp, request: certs_pb2.RenewCertificateRequest, context: Context
) -> certs_pb2.RenewCertificateResponse:
    """RenewCertificate, every refusal counted by outcome; see the module docstring."""
    counters = app.certs.counters
    serial, pem = peer_certificate(context, "RenewCertificate")
    try:
        device = await _lookup(app, serial)
    except RevokedDeviceError as err:
        counters.count("revoked")
        await app.audit(err.who, "device.cert.renew.denied", err.who, f"revoked; cert {serial}")
        log.warning("refused certificate renewal: %s", err)
        raise PermissionDeniedError(f"{err}: it cannot renew its certificate") from None
    except UnauthenticatedError:
        counters.count("unknown")
        raise
    try:
        app.certs.limiter.check(device.device_id, time.monotonic())
        check_renewal_csr(request.csr_pem, device.device_id, pem)
    except RateLimitedError as err:
        counters.count("rate_limited")
        log.warning("%s: %s", device.device_id, err)
        raise
    except CertificateError as err:
        counters.count("bad_csr")
        log.warning("%s: renewal refused: %s", device.device_id, err)
        raise
    issued = app.ca.sign_csr(request.csr_pem, device.device_id, lifetime(app))
    at = now_us()
    issue = CertIssue(issued.serial_hex, device.device_id, issued.not_after_us, at, RENEW)
    await app.store.renew_certificate(serial, issue)
    counters.count("renewed")
    app.certs.refresher.touch()
    until = dt.datetime.fromtimestamp(issued.not_after_us / 1e6, dt.UTC).isoformat()
    await app.audit(
        device.device_id, "device.cert.renew", device.device_id, f"{serial} -> {issued.serial_hex}"
    )
    log.info("%s renewed its certificate: %s, valid until %s", device.device_id, serial, until)
    return certs_pb2.RenewCertificateResponse(
        certificate_pem=issued.pem,
        ca_pem=app.ca.pem,
        serial=issued.serial_hex,
        not_before=convert.ts(issued.not_before_us),
        not_after=convert.ts(issued.not_after_us),
    )


async def enroll_reissued(
    app: FleetApp, request: agent_pb2.EnrollRequest, token_id: str, secret: str, device_id: str
) -> tuple[Device, IssuedCertificate]:
    """Enroll with a reissue token: the box is `device_id` again, with a new certificate."""
    issued = app.ca.sign_csr(request.csr_pem, device_id, lifetime(app))
    issue = CertIssue(issued.serial_hex, device_id, issued.not_after_us, now_us(), REISSUE)
    device = await app.store.reissue_device(
        ReissueRequest(
            token_id=token_id,
            secret_hash=hash_secret(secret),
            device_id=device_id,
            issue=issue,
            hostname=request.hostname,
            agent_version=request.agent_version,
        )
    )
    app.certs.counters.count("reissued")
    app.certs.refresher.touch()
    # Whoever still streams with an older certificate (a stolen or cloned box) goes now.
    app.sessions.cut(device_id, grpc.StatusCode.UNAUTHENTICATED, "device certificate reissued")
    await app.replication.notify(bus.REISSUED, device_id=device_id, at_us=str(now_us()))
    await app.audit(f"token:{token_id}", "device.reissue.enroll", device_id, issued.serial_hex)
    log.info("%s re-enrolled with a reissue token; certificate %s", device_id, issued.serial_hex)
    return device, issued


def fill_certificate_fields(
    out: admin_pb2.Device, device: Device, summary: CertSummary | None, at_us: int
) -> admin_pb2.Device:
    """Device fields 30-39: days left, last renewal, renewals, pending serial."""
    out.certificate_days_left = days_left(device.cert_not_after_us, at_us)
    summary = summary or CertSummary()
    renewed = convert.ts(summary.last_issued_us)
    if renewed is not None:
        out.certificate_renewed_at.CopyFrom(renewed)
    out.certificate_renewals = summary.renewals
    out.certificate_pending_serial = summary.pending_serial
    return out


class CertificateServicer(Guarded, certs_pb2_grpc.CertificateServiceServicer):
    """CertificateService: the operator's way back for a box that cannot renew any more."""

    def __init__(self, app: FleetApp) -> None:
        self.app = app
        self.access = app.access

    @guarded(Role.ADMIN)
    async def ReissueDevice(  # noqa: N802
        self, request: certs_pb2.ReissueDeviceRequest, context: Context, who: Principal
    ) -> certs_pb2.ReissueDeviceResponse:
        """A one-time token that re-certifies an existing device (certs.proto)."""
        ttl = request.ttl_seconds or DEFAULT_REISSUE_TTL_S
        if ttl > MAX_ENROLL_TTL_S:
            raise InvalidRequestError(f"ttl_seconds must be 1..{MAX_ENROLL_TTL_S}")
        device = await self.app.store.get_device(request.device_id.strip())
        if device is None:
            raise NotFoundError(f"device {request.device_id[:80]!r} not found")
        if device.status == REVOKED:
            raise PermissionDeniedError(
                f"device {device.device_id} is revoked; a revoked device cannot be reissued "
                "(enroll the box as a new device with a token from `okoctl token create`)"
            )
        minted = mint_enrollment_token(self.app.ca.pin)
        at = now_us()
        expires = at + ttl * 1_000_000
        note = request.note.strip()[:_NOTE_CHARS]
        token = EnrollmentToken(
            token_id=minted.token_id,
            site=device.site,
            note=f"reissue {device.device_id}" + (f": {note}" if note else ""),
            secret_hash=minted.secret_hash,
            created_us=at,
            expires_us=expires,
        )
        await self.app.store.add_reissue_token(token, device.device_id)
        await self.app.audit(who.name, "device.reissue", device.device_id, token.note)
        return certs_pb2.ReissueDeviceResponse(
            token=minted.text,
            token_id=minted.token_id,
            device_id=device.device_id,
            expires_at=convert.ts(expires),
            ca_sha256=self.app.ca.fingerprint,
        )


async def renew_rpc(
    app: FleetApp, request: certs_pb2.RenewCertificateRequest, context: Context
) -> certs_pb2.RenewCertificateResponse:
    """`renew` with FleetError mapped to its status (the AgentService method calls this)."""
    try:
        return await renew(app, request, context)
    except FleetError as err:
        await abort(context, err)

"""Device certificate renewal on the box: when to renew, how, and what to say when too late.

When: at `fleet.renew_at` of the certificate's lifetime plus up to `fleet.renew_jitter`
more, the extra part fixed by a hash of the device id - stable across restarts, and spread
evenly, so 19,000 boxes enrolled on one day renew over weeks rather than in one second. A
box that was offline at that time renews right after it connects again (after a short
random pause, so a fleet coming back after an outage is not hit by every box at once).

How: a new P-256 key made here, a CSR naming the device, `AgentService.RenewCertificate`
on the running mutual-TLS channel; the answer is checked (our key, our CA, our device id)
and installed as one pair (`AgentStore.install_certificate`: a crash mid-way leaves a
working identity). The uplink then finishes its in-flight batches and reconnects with the
new certificate; the fleet accepts the old one until that happens.

Too late: an expired certificate cannot renew - TLS refuses it. `expired_message` says
exactly that and what to do (`okoctl device reissue`, then `oko-agent enroll --force`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from agent.config.agent import FleetSection
from agent.errors import IdentityError, UplinkError
from agent.identity import AgentStore, Identity
from agent.uplink.enroll import make_key_and_csr
from agent.uplink.uplink_metrics import AgentMetrics
from proto import transport
from proto.oko.v1 import agent_pb2_grpc, certs_pb2

log = logging.getLogger(__name__)

RENEW_DEADLINE_S = transport.ENROLL_DEADLINE_S
_OVERDUE_PAUSE_MAX_S = 60.0
_RETRY_MIN_S = 1.0
_RETRY_MAX_S = 3600.0
_REFUSED = (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)


class RenewalError(UplinkError):
    """The fleet's answer to a renewal could not be used (wrong key, CA or device id)."""


@dataclass(frozen=True)
class Validity:
    """A certificate's validity window, Unix seconds."""

    not_before: float
    not_after: float

    @classmethod
    def of(cls, pem: bytes) -> Validity:
        """The window of a PEM certificate."""
        cert = x509.load_pem_x509_certificate(pem)
        return cls(cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp())


def spread(key: str) -> float:
    """A number in [0, 1) fixed by `key`, uniform over keys (first 8 bytes of SHA-256)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def renew_time(validity: Validity, at: float, jitter: float, key: str) -> float:
    """When to renew: `at` + `jitter` x spread(key) of the way through the lifetime."""
    life = validity.not_after - validity.not_before
    return validity.not_before + life * (at + jitter * spread(key))


def retry_delay(remaining_s: float, failures: int) -> float:
    """Pause before the next attempt after `failures` failed ones.

    Doubling from 1 s, at most an hour and never more than a tenth of the time the
    certificate has left (a short-lived certificate retries often enough to make it).
    """
    ceiling = min(_RETRY_MAX_S, max(_RETRY_MIN_S, remaining_s / 10))
    return min(ceiling, _RETRY_MIN_S * float(2 ** min(failures, 20)))


def _ago(seconds: float) -> str:
    whole = int(abs(seconds))
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {rest // 60}m" if hours else f"{rest // 60}m {rest % 60}s"


def expired_message(identity: Identity, now: float) -> str:
    """What an agent with an expired certificate says, and what the operator must do."""
    when = dt.datetime.fromtimestamp(identity.not_after, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return (
        f"device certificate of {identity.device_id} expired at {when} "
        f"({_ago(now - identity.not_after)} ago) before this box could renew it (offline?); "
        "the fleet refuses an expired certificate, so this box cannot connect or renew. "
        f"Way back: on the fleet run `okoctl device reissue {identity.device_id}`, then on "
        f"this box `oko-agent enroll --force --fleet {identity.fleet_api} --token <token>`. "
        "The device keeps its id; this agent picks the new certificate up without a "
        "restart and sends every spooled event (docs/operations.md, Certificate renewal)"
    )


def _check_answer(
    reply: certs_pb2.RenewCertificateResponse, public_key: object, ca_pem: bytes, device_id: str
) -> None:
    try:
        cert = x509.load_pem_x509_certificate(reply.certificate_pem.encode())
        ca = x509.load_pem_x509_certificate(ca_pem)
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as err:
        raise RenewalError(f"renewed certificate unusable (not from our fleet CA?): {err}") from err
    if cert.public_key() != public_key:
        raise RenewalError("the fleet returned a certificate for a different key")
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [n.value for n in names] != [device_id]:
        raise RenewalError(f"renewed certificate names {names!r}, not {device_id}")


class Renewer:
    """Renews this box's certificate when due; one per uplink client."""

    def __init__(
        self,
        store: AgentStore,
        settings: Callable[[], FleetSection],
        metrics: AgentMetrics,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._rng = rng or random.Random()

    def due(self) -> tuple[float, Validity]:
        """(when to renew, Unix seconds; the current certificate's validity)."""
        identity = self._store.identity()
        if identity is None:
            raise IdentityError("not enrolled")
        validity = Validity.of(self._store.credentials().certificate)
        self._metrics.cert_expiry.set(validity.not_after)
        settings = self._settings()
        at = renew_time(validity, settings.renew_at, settings.renew_jitter, identity.device_id)
        return at, validity

    async def renew(self, stub: agent_pb2_grpc.AgentServiceAsyncStub) -> Identity:
        """One renewal: new key, CSR, RPC, checks, crash-safe install. Raises on failure."""
        identity = self._store.identity()
        if identity is None:
            raise IdentityError("not enrolled")
        ca = self._store.credentials().ca
        key, csr = await asyncio.to_thread(make_key_and_csr, identity.device_id)
        reply = await stub.RenewCertificate(
            certs_pb2.RenewCertificateRequest(csr_pem=csr), timeout=RENEW_DEADLINE_S
        )
        _check_answer(reply, key.public_key(), ca, identity.device_id)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        renewed = await asyncio.to_thread(
            self._store.install_certificate, key_pem, reply.certificate_pem.encode()
        )
        self._metrics.cert_expiry.set(renewed.not_after)
        self._metrics.cert_renewals.labels("renewed").inc()
        log.info(
            "renewed the device certificate of %s: serial %s, valid until %s",
            renewed.device_id,
            reply.serial,
            dt.datetime.fromtimestamp(renewed.not_after, dt.UTC).isoformat(),
        )
        return renewed

    async def run(self, stub: agent_pb2_grpc.AgentServiceAsyncStub) -> Identity:
        """Wait until renewal is due, then renew, retrying with backoff until it works."""
        at, validity = self.due()
        now = self._clock()
        if at <= now:  # overdue (the box was offline): a random pause spreads the returning herd
            left = validity.not_after - now
            await asyncio.sleep(self._rng.uniform(0, min(_OVERDUE_PAUSE_MAX_S, max(0, left) / 10)))
        while (wait := at - self._clock()) > 0:  # wake hourly: the wall clock may be stepped
            await asyncio.sleep(min(wait, _RETRY_MAX_S))
        failures = 0
        while True:
            try:
                return await self.renew(stub)
            except grpc.aio.AioRpcError as err:
                refused = err.code() in _REFUSED
                self._metrics.cert_renewals.labels("refused" if refused else "failed").inc()
                level = logging.ERROR if refused else logging.WARNING
                log.log(level, "certificate renewal failed: %s %s", err.code().name, err.details())
            except (RenewalError, IdentityError) as err:
                self._metrics.cert_renewals.labels("failed").inc()
                log.error("certificate renewal failed: %s", err)
            failures += 1
            await asyncio.sleep(retry_delay(validity.not_after - self._clock(), failures))

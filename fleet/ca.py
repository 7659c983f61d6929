"""The fleet's certificate authority: device certificates from CSRs, the server certificate.

The CA key never leaves the fleet's data directory (mode 0600). Devices make their own
keys and send only a CSR, so a stolen enrollment response is useless without the box.
Certificates name the device in the subject CN and carry a random 128-bit serial; the
serial is what revocation is keyed on (see `RevocationSet`), because a re-enrolled box
gets a new certificate under a new device id anyway.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleet.errors import CertificateError, FleetError
from proto.tokens import ca_pin, certificate_fingerprint

log = logging.getLogger(__name__)

DEVICE_CERT_DAYS = 365
SERVER_CERT_DAYS = 365
CA_DAYS = 3650
_CLOCK_SKEW = dt.timedelta(minutes=5)
# The server certificate is re-issued at start when it has less than this left.
_SERVER_RENEW_BEFORE = dt.timedelta(days=30)
_MAX_CSR_BYTES = 16 * 1024
_MIN_RSA_BITS = 2048
_ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1)


@dataclass(frozen=True)
class IssuedCertificate:
    """A freshly signed device certificate."""

    pem: str
    serial_hex: str
    not_after_us: int
    not_before_us: int = 0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write atomically with mode 0600 from the start (never world-readable, not even briefly)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def serial_hex(cert: x509.Certificate) -> str:
    """Certificate serial as lowercase hex: the key for device lookup and revocation."""
    return format(cert.serial_number, "x")


def serial_from_pem(pem: bytes | str) -> str:
    """Serial of a PEM certificate, e.g. the peer certificate from a gRPC auth context."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return serial_hex(x509.load_pem_x509_certificate(data))
    except ValueError as err:
        raise CertificateError(f"peer certificate is not valid PEM: {err}") from err


def _check_public_key(csr: x509.CertificateSigningRequest) -> None:
    key = csr.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _ALLOWED_CURVES):
            raise CertificateError(f"csr_pem: EC curve {key.curve.name} not allowed (P-256, P-384)")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS:
            raise CertificateError(f"csr_pem: RSA key of {key.key_size} bits, need >= 2048")
    else:
        raise CertificateError(f"csr_pem: key type {type(key).__name__} not allowed (EC or RSA)")


def _subject_cn(csr: x509.CertificateSigningRequest) -> str:
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise CertificateError(f"csr_pem: subject has {len(names)} common names, need exactly 1")
    value = names[0].value
    return value if isinstance(value, str) else value.decode(errors="replace")


def check_renewal_csr(
    csr_pem: str, device_id: str, current_cert_pem: str
) -> x509.CertificateSigningRequest:
    """A renewal CSR: well-formed, CN = the device id, and a key the box has just made.

    Enrollment ignores the CSR's subject (the fleet names the box); a renewing box already
    knows its id, so a different CN means it is confused about who it is. Reusing the key
    of the certificate it presents would defeat the point of renewing (a leaked key would
    stay valid forever), so that is refused too.
    """
    csr = load_csr(csr_pem)
    cn = _subject_cn(csr)
    if cn != device_id:
        raise CertificateError(
            f"csr_pem: subject CN {cn[:80]!r} is not this device's id {device_id!r}"
        )
    try:
        current = x509.load_pem_x509_certificate(current_cert_pem.encode())
    except ValueError as err:
        raise CertificateError(f"peer certificate is not valid PEM: {err}") from err
    if current.public_key() == csr.public_key():
        raise CertificateError(
            "csr_pem: reuses the key of the certificate presented; renewal needs a new key"
        )
    return csr


def load_csr(csr_pem: str) -> x509.CertificateSigningRequest:
    """Parse and check a CSR: well-formed, self-signed correctly, acceptable key."""
    if not csr_pem.strip():
        raise CertificateError("csr_pem: empty")
    if len(csr_pem) > _MAX_CSR_BYTES:
        raise CertificateError(f"csr_pem: {len(csr_pem)} bytes, limit {_MAX_CSR_BYTES}")
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        valid = csr.is_signature_valid
    except (ValueError, InvalidSignature, TypeError) as err:
        raise CertificateError(f"csr_pem: not a valid PKCS#10 request: {err}") from err
    if not valid:
        raise CertificateError("csr_pem: signature does not match its public key")
    _check_public_key(csr)
    return csr


class CertificateAuthority:
    """The fleet CA loaded from (or created in) a directory of PEM files."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        self._key = key
        self.cert = cert
        self.pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        self.fingerprint = certificate_fingerprint(cert.public_bytes(serialization.Encoding.DER))

    @property
    def pin(self) -> str:
        """Short CA fingerprint embedded in enrollment tokens (`proto.tokens.ca_pin`)."""
        return ca_pin(self.fingerprint)

    @classmethod
    def load_or_create(cls, directory: Path, name: str = "Oko fleet CA") -> CertificateAuthority:
        """Load `ca.key`/`ca.pem` from `directory`, creating both on first start."""
        key_path, cert_path = directory / "ca.key", directory / "ca.pem"
        try:
            if key_path.exists() and cert_path.exists():
                key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
                cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
                if not isinstance(key, ec.EllipticCurvePrivateKey):
                    raise FleetError(f"{key_path}: expected an EC private key")
                return cls(key, cert)
            directory.mkdir(parents=True, exist_ok=True)
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _self_signed_ca(key, name)
            _write_private(key_path, _key_pem(key))
            _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        except (OSError, ValueError) as err:
            raise FleetError(f"{directory}: cannot load or create the CA: {err}") from err
        log.info("created fleet CA in %s", directory)
        return cls(key, cert)

    def sign_csr(
        self,
        csr_pem: str,
        device_id: str,
        lifetime: dt.timedelta = dt.timedelta(days=DEVICE_CERT_DAYS),
    ) -> IssuedCertificate:
        """Issue a client certificate for `device_id` over the CSR's public key.

        The CSR's own subject is ignored: the fleet, not the box, decides who the box is.
        Valid from a little before now (a box whose clock lags must not see a certificate
        from the future: 5 minutes, or a twentieth of a short test lifetime) for `lifetime`.
        """
        csr = load_csr(csr_pem)
        now = _now()
        not_after = now + lifetime
        not_before = now - min(_CLOCK_SKEW, lifetime / 20)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "oko"),
                x509.NameAttribute(NameOID.COMMON_NAME, device_id),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(csr.public_key())
            .serial_number(secrets.randbits(127) | 1 << 126)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_key_usage(), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return IssuedCertificate(
            pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            serial_hex=serial_hex(cert),
            not_after_us=int(not_after.timestamp() * 1_000_000),
            not_before_us=int(not_before.timestamp() * 1_000_000),
        )

    def server_credentials_files(self, directory: Path, hostnames: list[str]) -> tuple[Path, Path]:
        """(key, chain) files for the fleet's TLS server certificate.

        Re-issued when the wanted host names change, and when it has less than 30 days
        left (a fleet restarted at least once a year never serves an expired one). The
        chain includes the CA so a box can pin it.
        """
        key_path, chain_path = directory / "server.key", directory / "server.pem"
        names = sorted(set(hostnames) | {"localhost", "127.0.0.1"})
        names_path = directory / "server.names"
        have = key_path.exists() and chain_path.exists() and names_path.exists()
        if have and names_path.read_text().split() == names and _lasts(chain_path):
            return key_path, chain_path
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._server_cert(key, names)
        chain = cert.public_bytes(serialization.Encoding.PEM) + self.pem.encode()
        _write_private(key_path, _key_pem(key))
        _write_private(chain_path, chain, 0o644)
        names_path.write_text(" ".join(names))
        return key_path, chain_path

    def _server_cert(self, key: ec.EllipticCurvePrivateKey, names: list[str]) -> x509.Certificate:
        alt: list[x509.GeneralName] = []
        for name in names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        now = _now()
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CLOCK_SKEW)
            .not_valid_after(now + dt.timedelta(days=SERVER_CERT_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_key_usage(), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )


def _lasts(chain_path: Path) -> bool:
    """Whether the server certificate in `chain_path` is good for another 30 days."""
    try:
        cert = x509.load_pem_x509_certificate(chain_path.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - _now() > _SERVER_RENEW_BEFORE


def _leaf_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=True,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _self_signed_ca(key: ec.EllipticCurvePrivateKey, name: str) -> x509.Certificate:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "oko"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    now = _now()
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


class RevocationSet:
    """Serials of revoked device certificates, held in memory for the per-call check.

    The store is the source of truth (loaded at start, updated on revoke); this set only
    makes the check on every Connect free of I/O.
    """

    def __init__(self, serials: set[str] | None = None) -> None:
        self._serials: set[str] = set(serials or ())

    def add(self, serial: str) -> None:
        """Mark a serial as revoked (serials compare case-insensitively)."""
        self._serials.add(serial.lower())

    def __contains__(self, serial: object) -> bool:
        return isinstance(serial, str) and serial.lower() in self._serials

    def __len__(self) -> int:
        return len(self._serials)

"""The identity/applied-config store: atomic files, private modes, clear errors."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.errors import IdentityError
from agent.identity import AgentStore, AppliedConfig, Credentials, Identity, cert_facts


def _pair() -> tuple[bytes, bytes]:
    """A real key and a self-signed certificate for it: the store checks they match."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dev-1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


CREDS = Credentials(*_pair(), b"CA PEM")
NOT_AFTER, CERT_SHA256 = cert_facts(CREDS.certificate)
IDENTITY = Identity(
    device_id="dev-1",
    site="north",
    fleet_api="127.0.0.1:7440",
    agent_endpoint="127.0.0.1:7443",
    not_after=NOT_AFTER,
    enrolled_at=1_700_000_000.0,
    cert_sha256=CERT_SHA256,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_identity_round_trip_with_private_modes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = AgentStore(data)
    assert store.identity() is None
    store.save_identity(IDENTITY, CREDS)
    store.close()
    again = AgentStore(data)
    assert again.identity() == IDENTITY
    assert again.credentials() == CREDS
    for name in ("device.key", "device.crt", "fleet-ca.pem"):
        assert _mode(data / "identity" / name) == 0o600
    assert _mode(data / "agent.json") == 0o600
    assert _mode(data) == 0o700 and _mode(data / "identity") == 0o700
    leftovers = [p.name for p in data.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_readable_key_is_refused_with_the_fix(tmp_path: Path) -> None:
    store = AgentStore(tmp_path)
    store.save_identity(IDENTITY, CREDS)
    key = tmp_path / "identity" / "device.key"
    os.chmod(key, 0o644)
    with pytest.raises(IdentityError, match="chmod 600"):
        store.credentials()


def test_missing_credentials_name_the_file_and_the_remedy(tmp_path: Path) -> None:
    store = AgentStore(tmp_path)
    store.save_identity(IDENTITY, CREDS)
    (tmp_path / "identity" / "device.crt").unlink()
    with pytest.raises(IdentityError, match=r"device\.crt.*oko-agent enroll"):
        store.credentials()


def test_corrupt_document_is_a_clear_error_and_left_untouched(tmp_path: Path) -> None:
    doc = tmp_path / "agent.json"
    doc.write_text('{"identity": {"1": {"device_id": ')
    with pytest.raises(IdentityError, match="not valid JSON"):
        AgentStore(tmp_path).identity()
    assert doc.read_text() == '{"identity": {"1": {"device_id": '


def test_applied_config_and_refusals_are_kept_apart(tmp_path: Path) -> None:
    store = AgentStore(tmp_path)
    assert store.applied_config() is None
    applied = AppliedConfig(version=3, document="cameras: []\n", sha256="00", applied_at=1.5)
    store.save_applied_config(applied)
    store.record_attempt(4, "cameras[0].id: missing")
    store.save_identity(IDENTITY, CREDS)
    reopened = AgentStore(tmp_path)
    assert reopened.applied_config() == applied
    assert reopened.last_refused() == (4, "cameras[0].id: missing")
    assert reopened.identity() == IDENTITY


def test_a_staged_pair_that_does_not_match_is_discarded_and_the_old_pair_kept(
    tmp_path: Path,
) -> None:
    store = AgentStore(tmp_path)
    store.save_identity(IDENTITY, CREDS)
    store.close()
    other_key, _ = _pair()
    identity_dir = tmp_path / "identity"
    (identity_dir / "device.key.new").write_bytes(other_key)
    (identity_dir / "device.crt.new").write_bytes(CREDS.certificate)  # not other_key's
    reopened = AgentStore(tmp_path)
    assert reopened.credentials() == CREDS
    assert reopened.identity() == IDENTITY
    assert sorted(p.name for p in identity_dir.iterdir()) == [
        "device.crt",
        "device.key",
        "fleet-ca.pem",
    ]


def test_install_refuses_a_certificate_for_another_key(tmp_path: Path) -> None:
    store = AgentStore(tmp_path)
    store.save_identity(IDENTITY, CREDS)
    other_key, _ = _pair()
    with pytest.raises(IdentityError, match="does not match the new key"):
        store.install_certificate(other_key, CREDS.certificate)
    assert store.credentials() == CREDS

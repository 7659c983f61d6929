r"""Ed25519 signatures of model artifacts and of signing-key endorsements. Pure.

The private key never has to be on the fleet: `okoctl model sign` runs on the signer's
machine with a key file; the fleet and the boxes hold public keys only. A box pins the
keys the fleet trusted when it enrolled, and later accepts a new key only if a key it
already pins endorsed it (signed "oko-model-key-v1\n" + the new public key): that is how
a signing key is rotated without re-enrolling every box.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from models.schema import signed_digest

KEY_CONTEXT = b"oko-model-key-v1\n"
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


class SigningError(ValueError):
    """A key or signature is malformed, or a signature does not verify."""


@dataclass(frozen=True)
class PublicKey:
    """A trusted public key, with the endorsement that made it trusted (if any)."""

    key_id: str
    raw: bytes
    name: str = ""
    endorsed_by: str = ""
    endorsement: bytes = b""


def key_id(raw: bytes) -> str:
    """First 16 hex digits of sha256(raw public key): short, stable, shown by okoctl."""
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_private_key() -> tuple[bytes, bytes]:
    """A new key pair: (PKCS#8 PEM of the private key, raw 32-byte public key)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, public_raw(key.public_key())


def public_raw(key: Ed25519PublicKey) -> bytes:
    """The raw 32 bytes of a public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_pem(raw: bytes) -> bytes:
    """SubjectPublicKeyInfo PEM of a raw public key (what `key add` reads back)."""
    key = Ed25519PublicKey.from_public_bytes(raw)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(path: Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file; `SigningError` says what is wrong."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SigningError(f"{path}: {err.strerror}") from err
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError) as err:
        raise SigningError(f"{path}: not a usable PEM private key: {err}") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path}: not an Ed25519 key ({type(key).__name__})")
    return key


def parse_public_key(data: bytes) -> bytes:
    """Raw 32 bytes from a raw key, its hex or base64 text, or a PEM SubjectPublicKeyInfo."""
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text)
        except ValueError as err:
            raise SigningError(f"public key: not a PEM public key: {err}") from err
        if not isinstance(key, Ed25519PublicKey):
            raise SigningError(f"public key: not an Ed25519 key ({type(key).__name__})")
        return public_raw(key)
    if len(data) == PUBLIC_KEY_BYTES:
        return bytes(data)
    for decode in (bytes.fromhex, base64.b64decode):
        try:
            raw = decode(text.decode("ascii"))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            continue
        if len(raw) == PUBLIC_KEY_BYTES:
            return bytes(raw)
    raise SigningError(
        f"public key: expected 32 raw bytes, hex, base64 or PEM, got {len(data)} bytes"
    )


def sign_manifest(key: Ed25519PrivateKey, manifest_text: str) -> bytes:
    """The detached signature of a canonical manifest entry (see `models.schema.canonical`)."""
    return key.sign(signed_digest(manifest_text))


def verify_manifest(raw: bytes, manifest_text: str, signature: bytes) -> None:
    """Raise `SigningError` unless `signature` by `raw` covers exactly `manifest_text`."""
    _verify(raw, signed_digest(manifest_text), signature, "model signature")


def endorse(key: Ed25519PrivateKey, new_raw: bytes) -> bytes:
    """`key` vouches for `new_raw`: boxes that pin `key` will trust `new_raw` too."""
    return key.sign(KEY_CONTEXT + new_raw)


def verify_endorsement(endorser_raw: bytes, new_raw: bytes, endorsement: bytes) -> None:
    """Raise `SigningError` unless `endorsement` by `endorser_raw` covers `new_raw`."""
    _verify(endorser_raw, KEY_CONTEXT + new_raw, endorsement, "key endorsement")


def _verify(raw: bytes, message: bytes, signature: bytes, what: str) -> None:
    if len(signature) != SIGNATURE_BYTES:
        raise SigningError(f"{what}: {len(signature)} bytes, an Ed25519 signature has 64")
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, message)
    except ValueError as err:
        raise SigningError(f"{what}: bad public key: {err}") from err
    except InvalidSignature:
        raise SigningError(f"{what} does not verify with key {key_id(raw)}") from None


def extend_trust(pinned: Mapping[str, bytes], offered: Iterable[PublicKey]) -> dict[str, bytes]:
    """`pinned` plus every offered key endorsed, directly or in a chain, by a pinned key.

    Keys offered without a valid endorsement from a trusted key are ignored: whoever runs
    the fleet cannot make a box trust a key of its own choosing.
    """
    trusted = dict(pinned)
    pending = [k for k in offered if k.key_id not in trusted]
    progress = True
    while progress:
        progress = False
        for key in list(pending):
            endorser = trusted.get(key.endorsed_by)
            if endorser is None or key.key_id != key_id(key.raw):
                continue
            try:
                verify_endorsement(endorser, key.raw, key.endorsement)
            except SigningError:
                pending.remove(key)
                continue
            trusted[key.key_id] = key.raw
            pending.remove(key)
            progress = True
    return trusted

"""Bearer tokens, roles and enrollment tokens: minting, parsing, hashing. Pure logic.

Tokens are 256-bit random secrets, so a single SHA-256 is enough to store them (there is
nothing to brute-force, unlike passwords); comparisons are constant-time. A token names
its own record (`token_id`) so a lookup is one indexed read, never a scan over hashes.
The text formats (shared with the box, which parses enrollment tokens) are `proto.tokens`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fleet.errors import PermissionDeniedError, UnauthenticatedError
from proto.tokens import (
    API_PREFIX,
    ENROLL_PREFIX,
    TokenFormatError,
    TokenParts,
    format_token,
    split_token,
)

MAX_ENROLL_TTL_S = 7 * 24 * 3600
_ID_BYTES = 8
_SECRET_BYTES = 32


class Role(enum.IntEnum):
    """Ordered: a higher role may do everything a lower one may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        """The role named `name` (any case); a ValueError listing the roles otherwise."""
        try:
            return cls[name.strip().upper()]
        except KeyError as err:
            choices = ", ".join(r.name.lower() for r in cls)
            raise ValueError(f"unknown role {name!r}; choose one of {choices}") from err


@dataclass(frozen=True)
class Principal:
    """Who is calling, as established from a bearer token."""

    token_id: str
    name: str
    role: Role
    expires_us: int = 0  # 0 = never; streams opened with the token end at this time


@dataclass(frozen=True)
class MintedToken:
    """A new token: `text` goes to the user once, `secret_hash` to the store."""

    token_id: str
    text: str
    secret_hash: str


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of a token secret: what the store keeps instead of the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secrets_match(secret: str, stored_hash: str) -> bool:
    """Whether `secret` hashes to `stored_hash`, compared in constant time."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def _mint(prefix: str, ca_pin: str = "") -> MintedToken:
    token_id = secrets.token_hex(_ID_BYTES)
    # token_urlsafe never yields ".", the field separator of the token formats.
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    text = format_token(TokenParts(prefix, token_id, secret, ca_pin))
    return MintedToken(token_id=token_id, text=text, secret_hash=hash_secret(secret))


def mint_api_token() -> MintedToken:
    """A new API token; the caller stores its hash and shows its text once."""
    return _mint(API_PREFIX)


def mint_enrollment_token(ca_pin: str) -> MintedToken:
    """An enrollment token carrying the CA pin, so a box can verify the fleet it meets."""
    return _mint(ENROLL_PREFIX, ca_pin)


def parse_token(text: str, prefix: str) -> tuple[str, str]:
    """(token_id, secret) of a token of the given kind; UnauthenticatedError if malformed.

    The message never echoes the token: it is a secret even when it is wrong.
    """
    try:
        parts = split_token(text, prefix)
    except TokenFormatError as err:
        kind = "enrollment" if prefix == ENROLL_PREFIX else "API"
        raise UnauthenticatedError(f"malformed {kind} token ({err})") from None
    return parts.token_id, parts.secret


def bearer_from_metadata(metadata: tuple[tuple[str, str | bytes], ...] | None) -> str:
    """The token from `authorization: Bearer <token>` call metadata."""
    for key, value in metadata or ():
        if key.lower() == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            raise UnauthenticatedError("authorization metadata is not 'Bearer <token>'")
    raise UnauthenticatedError("missing authorization metadata (Bearer token)")


def require_role(principal: Principal, needed: Role) -> None:
    """Raise PermissionDeniedError unless the principal's role is at least `needed`."""
    if principal.role < needed:
        raise PermissionDeniedError(
            f"token {principal.name!r} has role {principal.role.name.lower()}, "
            f"this call needs {needed.name.lower()}"
        )

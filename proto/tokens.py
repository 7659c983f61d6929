"""Text formats both ends of the wire write or read: tokens, the CA pin, the agent endpoint.

Hand-written beside the generated code (not under `proto/oko/`): these strings travel
inside protobuf fields and on operators' screens, and the fleet (which mints them) and the
box (which parses them) must agree byte for byte, so they are defined once, here. Pure
string work on the standard library; each side maps `TokenFormatError` to its own error.

    API token:        okoa.<token_id>.<secret>
    enrollment token: oko1.<token_id>.<secret>.<ca_pin>
    ca_pin:           the first 32 hex digits (128 bits) of SHA-256 over the CA's DER form
    agent endpoint:   "host:port", ":port" (the host the box enrolled against), or ""
                      (that host and the default agent port)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from proto.transport import DEFAULT_AGENT_PORT

API_PREFIX = "okoa"
ENROLL_PREFIX = "oko1"
CA_PIN_HEX = 32
_HEX = frozenset("0123456789abcdef")


class TokenFormatError(ValueError):
    """A token's text has the wrong shape; the message never repeats the secret."""


@dataclass(frozen=True)
class TokenParts:
    """A token split into its fields; `ca_pin` is "" for API tokens."""

    prefix: str
    token_id: str
    secret: str
    ca_pin: str = ""


def _shape(prefix: str) -> str:
    return f"{prefix}.<id>.<secret>" + (".<ca_pin>" if prefix == ENROLL_PREFIX else "")


def format_token(parts: TokenParts) -> str:
    """The text of a token, as `okoctl token create` prints it."""
    text = f"{parts.prefix}.{parts.token_id}.{parts.secret}"
    return f"{text}.{parts.ca_pin}" if parts.prefix == ENROLL_PREFIX else text


def split_token(text: str, prefix: str) -> TokenParts:
    """A token of kind `prefix` split into fields; `TokenFormatError` if its shape is wrong.

    Checks the structure only; `parse_enrollment_token` also checks the pin.
    """
    parts = text.strip().split(".")
    wanted = 4 if prefix == ENROLL_PREFIX else 3
    if len(parts) != wanted or parts[0] != prefix:
        raise TokenFormatError(f"expected {_shape(prefix)}")
    if not parts[1] or not parts[2]:
        raise TokenFormatError("empty id or secret")
    return TokenParts(*parts)


def parse_enrollment_token(text: str) -> TokenParts:
    """An enrollment token with its CA pin checked (lower-cased, `CA_PIN_HEX` hex digits)."""
    parts = split_token(text, ENROLL_PREFIX)
    pin = parts.ca_pin.lower()
    if len(pin) != CA_PIN_HEX or not set(pin) <= _HEX:
        raise TokenFormatError(f"CA pin must be {CA_PIN_HEX} hex digits, got {pin!r}")
    return TokenParts(parts.prefix, parts.token_id, parts.secret, pin)


def certificate_fingerprint(der: bytes) -> str:
    """Hex SHA-256 of a DER certificate: what a CA pin is a prefix of."""
    return hashlib.sha256(der).hexdigest()


def ca_pin(fingerprint: str) -> str:
    """The pin an enrollment token carries for a CA with this fingerprint."""
    return fingerprint[:CA_PIN_HEX]


def pin_matches(fingerprint: str, pin: str) -> bool:
    """Whether a CA with `fingerprint` is the one a token's `pin` names."""
    return len(pin) == CA_PIN_HEX and fingerprint.lower().startswith(pin.lower())


def advertised_agent_port(port: int) -> str:
    """What the fleet sends as `agent_endpoint` when it knows only its port.

    That is ":port", or "" for the default port (the box then uses the host it enrolled
    against).
    """
    return "" if port == DEFAULT_AGENT_PORT else f":{port}"


def resolve_agent_endpoint(advertised: str, host: str) -> str:
    """The agent endpoint a box connects to, from what the fleet advertised at enrollment."""
    if not advertised:
        return f"{host}:{DEFAULT_AGENT_PORT}"
    if advertised.startswith(":"):
        return f"{host}{advertised}"
    return advertised

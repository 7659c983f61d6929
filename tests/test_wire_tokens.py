"""The text formats both ends share (`proto.tokens`): what the fleet writes, the box reads."""

from __future__ import annotations

import pytest

from agent.uplink.enroll import parse_token as box_parse_token
from fleet.auth import mint_enrollment_token, parse_token
from proto import tokens
from proto.tokens import ENROLL_PREFIX
from proto.transport import DEFAULT_AGENT_PORT


def test_a_token_the_fleet_mints_is_one_the_box_accepts() -> None:
    pin = tokens.ca_pin(tokens.certificate_fingerprint(b"any DER bytes"))
    minted = mint_enrollment_token(pin)
    assert box_parse_token(minted.text).ca_pin == pin
    assert parse_token(minted.text, ENROLL_PREFIX)[0] == minted.token_id
    assert tokens.pin_matches(tokens.certificate_fingerprint(b"any DER bytes"), pin.upper())
    assert not tokens.pin_matches(tokens.certificate_fingerprint(b"other"), pin)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("oko1.a.b", "expected oko1.<id>.<secret>.<ca_pin>"),
        ("okoa.a.b.c", "expected oko1"),
        ("oko1.a..0123456789abcdef0123456789abcdef", "empty id or secret"),
        ("oko1.a.b.0123", "32 hex digits"),
    ],
)
def test_malformed_enrollment_tokens_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(tokens.TokenFormatError, match=message):
        tokens.parse_enrollment_token(text)


def test_the_advertised_agent_port_resolves_on_the_box() -> None:
    for port in (DEFAULT_AGENT_PORT, 17443):
        advertised = tokens.advertised_agent_port(port)
        assert tokens.resolve_agent_endpoint(advertised, "fleet.local") == f"fleet.local:{port}"
    assert tokens.resolve_agent_endpoint("edge.example:9000", "fleet.local") == "edge.example:9000"

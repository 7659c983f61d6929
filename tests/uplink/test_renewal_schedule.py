"""When a box renews (pure): a stable, evenly spread time per device; bounded retries; the
expired-certificate message says what happened and what to do."""

from __future__ import annotations

import collections
import secrets

import pytest

from agent.config.agent import AgentConfig, FleetSection
from agent.config.base import parse_document
from agent.errors import ConfigError
from agent.identity import Identity
from agent.uplink.renewal import Validity, expired_message, renew_time, retry_delay, spread

YEAR = 365 * 86_400.0
ENROLLED = 1_800_000_000.0


def test_19000_boxes_enrolled_the_same_day_spread_their_renewals_over_weeks() -> None:
    ids = [f"dev-{secrets.token_hex(8)}" for _ in range(19_000)]
    settings = FleetSection()
    times = []
    for i, device_id in enumerate(ids):
        enrolled = ENROLLED + i * 86_400 / 19_000  # all within one day
        validity = Validity(enrolled - 300, enrolled + YEAR)
        times.append(renew_time(validity, settings.renew_at, settings.renew_jitter, device_id))
    per_second = collections.Counter(int(t) for t in times)
    assert max(per_second.values()) <= 3
    per_day = collections.Counter(int(t // 86_400) for t in times)
    assert max(per_day.values()) < 19_000 / 30  # 0.1 of a year: about 37 days
    assert min(times) >= ENROLLED + 0.65 * YEAR and max(times) <= ENROLLED + 0.77 * YEAR + 86_400


def test_the_renewal_time_is_stable_for_a_device_and_inside_its_window() -> None:
    validity = Validity(ENROLLED, ENROLLED + 100.0)
    first = renew_time(validity, 0.5, 0.2, "dev-0011223344556677")
    assert first == renew_time(validity, 0.5, 0.2, "dev-0011223344556677")  # restarts agree
    assert ENROLLED + 50 <= first < ENROLLED + 70
    assert 0 <= spread("a") < 1 and spread("a") != spread("b")
    assert renew_time(validity, 0.5, 0.0, "anything") == ENROLLED + 50


def test_retries_back_off_but_never_past_a_tenth_of_what_is_left() -> None:
    assert retry_delay(YEAR, 1) == 2.0
    assert retry_delay(YEAR, 30) == 3600.0
    assert retry_delay(60.0, 30) == 6.0  # a short-lived certificate retries in time
    assert retry_delay(-5.0, 3) == 1.0


def test_expired_message_names_the_device_the_time_and_the_way_back() -> None:
    identity = Identity(
        device_id="dev-abc",
        site="north",
        fleet_api="fleet.example:7440",
        agent_endpoint="fleet.example:7443",
        not_after=ENROLLED,
        enrolled_at=ENROLLED - YEAR,
        cert_sha256="00",
    )
    text = expired_message(identity, ENROLLED + 3 * 86_400 + 7200)
    assert "dev-abc expired at 2027-01-15 08:00:00Z (3d 2h ago)" in text
    assert "okoctl device reissue dev-abc" in text
    assert "oko-agent enroll --force --fleet fleet.example:7440 --token <token>" in text


def test_renewal_settings_are_bounded() -> None:
    with pytest.raises(ConfigError, match="renew_at"):
        parse_document(AgentConfig, {"fleet": {"renew_at": 0.95}}, "box.yaml")
    with pytest.raises(ConfigError, match=r"renew_at \+ renew_jitter"):
        parse_document(AgentConfig, {"fleet": {"renew_at": 0.9, "renew_jitter": 0.1}}, "box.yaml")

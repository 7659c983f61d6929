"""Records of the device certificate lifecycle after enrollment (renewal, reissue).

Kept apart from `records.py` so the certificate code owns its own records; times are
integer microseconds since the epoch, as everywhere in the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.store.records import Device

RENEW = "renew"
REISSUE = "reissue"


@dataclass(frozen=True)
class CertIssue:
    """A certificate the fleet signed for an already enrolled device."""

    serial: str
    device_id: str
    not_after_us: int
    issued_us: int
    origin: str  # RENEW (by the box over mTLS) or REISSUE (token from `okoctl device reissue`)


@dataclass(frozen=True)
class CertMatch:
    """The device a presented client certificate belongs to, and how.

    `current`: the serial is the device's newest certificate. Otherwise it is the older
    one still accepted because the box has not used its renewed certificate yet.
    `superseded`: there is such an older certificate (only meaningful when `current`):
    its first use by the box retires it.
    """

    device: Device
    current: bool
    superseded: bool = False


@dataclass(frozen=True)
class CertSummary:
    """What okoctl shows beside a device's certificate serial and expiry."""

    renewals: int = 0  # certificates issued by renewal or reissue since enrollment
    last_issued_us: int = 0
    pending_serial: str = ""  # renewed certificate the box has not used yet


@dataclass(frozen=True)
class ReissueRequest:
    """A reissue token being spent: who the box says it is now, what it was signed."""

    token_id: str
    secret_hash: str
    device_id: str
    issue: CertIssue
    hostname: str
    agent_version: str

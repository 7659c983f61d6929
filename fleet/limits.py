"""Every bound the fleet puts on what a box (or any caller) sends, in one place.

A city network has thousands of boxes and some will be buggy, compromised or stolen, so
the fleet treats every field of every message as hostile: each string, list, map, number
and time has a bound here, `fleet.admission` enforces them on receipt (with a reason
naming the field), and `docs/operations.md` ("Limits") lists them. The configurable ones
form `Limits`, the `limits` section of `FleetSettings`; the rest are part of the wire
contract and fixed.

Why these numbers: an accepted event must always be deliverable to every subscriber in
one gRPC message (4 MiB, `proto.transport.MAX_MESSAGE_BYTES`), so the largest event is
far below that; a box has a handful of cameras, not thousands; ids become metric labels,
file names and terminal output, so they get the agent's own strict id pattern.
"""

from __future__ import annotations

import re
from typing import Final

from pydantic import Field

from agent.config import ID_PATTERN, Section
from proto.transport import MAX_MESSAGE_BYTES

# Ids a box sends (camera, line, zone, event ids, label keys, device names): the agent
# config's own pattern, so whatever the agent accepts the fleet accepts and nothing else.
ID_RE: Final = re.compile(ID_PATTERN)
MAX_ID_CHARS: Final = 64
# Fixed parts of the contract.
MAX_EMBEDDING_DIMS: Final = 4096
MAX_HOSTNAME_CHARS: Final = 253  # DNS name limit
MAX_VERSION_CHARS: Final = 64
MAX_COUNTER: Final = 2**63 - 1  # uint64 counters must fit SQLite's INTEGER and JSON readers
MAX_PERCENT: Final = 100_000.0  # cpu_percent may exceed 100 on many cores; not by 1000x
MAX_RATE: Final = 1_000_000.0  # fps, inference ms: anything above is a broken sensor
MIN_TIME_S: Final = 946_684_800  # 2000-01-01T00:00:00Z: no box captured anything earlier
# Devices one SetConfigs call (`okoctl config set --selector`) may change: a city's boxes
# fit, and the reply (one result per device) stays far below one gRPC message.
MAX_CONFIG_PUSH_DEVICES: Final = 10_000
# What a page of Query / SubscribeBatches may hold besides events (envelope framing).
ENVELOPE_OVERHEAD_BYTES: Final = 64


class Limits(Section):
    """Bounds on what boxes send (enforced on receipt, reason in the reply)."""

    max_future_skew_s: int = Field(
        default=86_400,
        ge=1,
        le=30 * 86_400,
        description="Times a box sends (capture, frame, interval start) may be at most this "
        "far ahead of the fleet's clock; later ones are refused.",
    )
    max_past_s: int = Field(
        default=10 * 365 * 86_400,
        ge=86_400,
        le=30 * 365 * 86_400,
        description="Times a box sends may be at most this far behind the fleet's clock "
        "(and never before 2000-01-01).",
    )
    max_event_bytes: int = Field(
        default=64 * 1024,
        ge=4096,
        le=1024 * 1024,
        description="Largest serialized event accepted; keeps every stored event deliverable "
        "in one message.",
    )
    max_text_chars: int = Field(
        default=256,
        ge=16,
        le=4096,
        description="Longest free-text string inside an event (labels, direction names, "
        "model names) and in a heartbeat.",
    )
    max_list_items: int = Field(
        default=64, ge=1, le=4096, description="Most items in any list or map inside an event."
    )
    max_cameras_per_device: int = Field(
        default=64,
        ge=1,
        le=1024,
        description="Most cameras a box may name in Hello or a heartbeat; also bounds its "
        "per-camera metric series and camera rows.",
    )
    max_error_chars: int = Field(
        default=8192,
        ge=64,
        le=65_536,
        description="Longest error text a box reports (camera errors, failed config applies, "
        "command results).",
    )
    max_state_document_bytes: int = Field(
        default=256 * 1024,
        ge=4096,
        le=2 * 1024 * 1024,
        description="Largest running-config document a box reports in a StateReport.",
    )
    max_labels: int = Field(
        default=16, ge=0, le=256, description="Most enrollment labels a box may send."
    )
    max_label_chars: int = Field(
        default=128, ge=8, le=1024, description="Longest enrollment label value."
    )
    max_page_bytes: int = Field(
        default=1024 * 1024,
        ge=64 * 1024,
        le=MAX_MESSAGE_BYTES // 2,
        description="Query responses and SubscribeBatches messages are cut at this many bytes "
        "(as well as at their event count).",
    )

"""Transport settings both ends of the wire must agree on: ports, limits, keepalive.

They live beside the .proto files because they are part of the contract: a client that
pings more often than the server permits gets its connection closed with
`ENHANCE_YOUR_CALM` ("too_many_pings"), and a batch bigger than the server's receive limit
is refused with RESOURCE_EXHAUSTED. The agent and okoctl build their channels from
`CLIENT_OPTIONS`; the fleet server from `SERVER_OPTIONS`. Reasons are in proto/README.md.
"""

from __future__ import annotations

from typing import Final

PROTOCOL_VERSION: Final = 1

DEFAULT_API_PORT: Final = 7440  # TLS, server auth only: Enroll, AdminService, EventService
DEFAULT_AGENT_PORT: Final = 7443  # mutual TLS: AgentService.Connect

MAX_MESSAGE_BYTES: Final = 4 * 1024 * 1024
MAX_BATCH_EVENTS: Final = 1000
HEARTBEAT_INTERVAL_S: Final = 10
BEARER_METADATA_KEY: Final = "authorization"

# Client pings every 20 s (also when idle, so a half-open TCP connection behind a NAT is
# noticed within ~30 s); the server allows pings down to every 10 s, i.e. twice as often
# as clients send them, so ordinary jitter never counts as a strike.
CLIENT_KEEPALIVE_TIME_MS: Final = 20_000
CLIENT_KEEPALIVE_TIMEOUT_MS: Final = 10_000
SERVER_MIN_PING_INTERVAL_MS: Final = 10_000
SERVER_KEEPALIVE_TIME_MS: Final = 30_000
SERVER_KEEPALIVE_TIMEOUT_MS: Final = 10_000

# Deadlines for unary calls (long-lived streams have none: keepalive + heartbeats watch them).
ENROLL_DEADLINE_S: Final = 15.0
ADMIN_DEADLINE_S: Final = 10.0

CLIENT_OPTIONS: Final[list[tuple[str, int | str]]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", CLIENT_KEEPALIVE_TIME_MS),
    ("grpc.keepalive_timeout_ms", CLIENT_KEEPALIVE_TIMEOUT_MS),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # Reconnect quickly after a fleet restart, but never hammer it.
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 10_000),
]

SERVER_OPTIONS: Final[list[tuple[str, int | str]]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", SERVER_KEEPALIVE_TIME_MS),
    ("grpc.keepalive_timeout_ms", SERVER_KEEPALIVE_TIMEOUT_MS),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", SERVER_MIN_PING_INTERVAL_MS),
    ("grpc.http2.max_ping_strikes", 2),
    ("grpc.http2.max_pings_without_data", 0),
]


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying an API token, as AdminService and EventService expect it."""
    return ((BEARER_METADATA_KEY, f"Bearer {token}"),)

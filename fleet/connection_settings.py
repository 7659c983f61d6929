"""Per-connection buffers of the fleet's gRPC server: what each connected box costs.

A city keeps thousands of boxes connected, mostly idle, so a replica's memory is mostly
per-connection state. `bench/box_memory.py` measured the replica's RSS per idle connected
box against gRPC's server options (docs/benchmarks.md, "Memory per connected box"): only
the TLS frame protector's buffer size changed it (16 KiB default -> 4 KiB: about 5 KiB
less per box); the TCP read chunk sizes, BDP probing, the HTTP/2 write buffer and the
stream cap per connection changed nothing measurable, so they are not settings.
"""

from __future__ import annotations

from pydantic import Field

from agent.config import Section

KIB = 1024
#: TLS' own bounds on a record's plaintext: 1 KiB (gRPC's lower bound) .. 16 KiB (TLS').
MIN_TLS_FRAME_BYTES = KIB
MAX_TLS_FRAME_BYTES = 16 * KIB


class ConnectionSettings(Section):
    """gRPC server options that bound what one connection holds."""

    tls_frame_bytes: int = Field(
        default=4 * KIB,
        ge=MIN_TLS_FRAME_BYTES,
        le=MAX_TLS_FRAME_BYTES,
        description="Largest TLS record the fleet writes, and the size of the buffer gRPC "
        "keeps per connection for it (grpc.tsi.max_frame_size). gRPC's default, 16 KiB, "
        "costs about 5 KiB more per connected box; a smaller record costs a few more "
        "record headers (29 bytes each) on large messages.",
    )


def connection_options(settings: ConnectionSettings) -> list[tuple[str, int | str]]:
    """The gRPC server options these settings make."""
    return [("grpc.tsi.max_frame_size", settings.tls_frame_bytes)]

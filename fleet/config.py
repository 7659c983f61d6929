"""Settings of `oko-fleet serve` (flags map 1:1 onto these fields)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from agent.config import Section
from proto.transport import DEFAULT_AGENT_PORT, DEFAULT_API_PORT


def _check_address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT")
    return value


class FleetSettings(Section):
    """Where the fleet keeps its state and where it listens."""

    data_dir: Path = Field(description="Store, CA and server certificate live here.")
    listen: str = Field(
        default=f"0.0.0.0:{DEFAULT_API_PORT}",
        description="API port (TLS, server auth): Enroll, AdminService, EventService.",
    )
    agent_listen: str = Field(
        default=f"0.0.0.0:{DEFAULT_AGENT_PORT}",
        description="Agent port (mutual TLS): AgentService.Connect.",
    )
    advertise_agent: str = Field(
        default="",
        description="host:port boxes should connect to, sent in EnrollResponse; empty means "
        "the host they enrolled against with the agent port.",
    )
    hostnames: tuple[str, ...] = Field(
        default=(), description="Extra DNS names / IPs for the server certificate."
    )
    metrics_listen: str = Field(
        default="127.0.0.1:9465", description="Prometheus /metrics HOST:PORT; empty disables."
    )
    subscriber_queue_events: int = Field(
        default=20_000,
        ge=100,
        le=10_000_000,
        description="Live events buffered per subscriber before it is served from the store.",
    )
    max_group_events: int = Field(
        default=20_000, ge=1, le=1_000_000, description="Upper bound of events in one group commit."
    )
    hello_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="A new agent stream must say Hello within this."
    )
    webhook_attempts: int = Field(
        default=5, ge=1, le=50, description="POST attempts per webhook batch before dead-lettering."
    )
    webhook_backoff_s: float = Field(
        default=0.5, gt=0, le=300, description="First retry delay; doubles per attempt."
    )
    webhook_timeout_s: float = Field(
        default=5.0, gt=0, le=120, description="Timeout of one webhook POST."
    )
    webhook_batch: int = Field(
        default=100, ge=1, le=10_000, description="Events per webhook POST at most."
    )

    @field_validator("listen", "agent_listen")
    @classmethod
    def _address(cls, value: str) -> str:
        return _check_address(value)

    @field_validator("metrics_listen", "advertise_agent")
    @classmethod
    def _optional_address(cls, value: str) -> str:
        return _check_address(value) if value else value

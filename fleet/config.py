"""Settings of `oko-fleet serve`: a YAML file (`--config`) and options that override it.

Every field can be set in the file; the common ones also have a `serve` option of the same
name (`--listen` for `listen`), which wins over the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from agent.config import ConfigError, Section, parse_document, parse_yaml
from fleet.errors import FleetError
from fleet.limits import Limits
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
    handshake_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="A new connection must finish its TLS and HTTP/2 handshake within this, "
        "else it is closed (unauthenticated sockets must not hold descriptors for long).",
    )
    max_connections: int = Field(
        default=4096,
        ge=8,
        le=1_000_000,
        description="Open connections per port at most; beyond it new ones are closed at "
        "once. Keep both ports' sum under the process's file descriptor limit.",
    )
    idle_connection_s: float = Field(
        default=300.0,
        ge=1,
        le=86_400,
        description="A connection with no call open for this long is closed (clients "
        "reconnect on their next call).",
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
    limits: Limits = Field(
        default_factory=Limits,
        description="Bounds on what boxes send, enforced on receipt (docs/operations.md, Limits).",
    )

    @field_validator("listen", "agent_listen")
    @classmethod
    def _address(cls, value: str) -> str:
        return _check_address(value)

    @field_validator("metrics_listen", "advertise_agent")
    @classmethod
    def _optional_address(cls, value: str) -> str:
        return _check_address(value) if value else value


class SettingsError(FleetError):
    """The settings file or an option is wrong; the message names the file and field."""


def read_settings_file(path: Path) -> dict[str, Any]:
    """The mapping in a YAML settings file; SettingsError (one line) if it is unreadable."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SettingsError(f"{path}: cannot read settings: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SettingsError(
            f"{path}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); "
            "save the file as UTF-8"
        ) from None
    try:
        return parse_yaml(text, str(path))
    except ConfigError as err:
        raise SettingsError(str(err)) from None


def load_settings(path: Path | None, options: dict[str, Any]) -> FleetSettings:
    """Settings from the file (if any) with the given options on top, validated."""
    data = read_settings_file(path) if path is not None else {}
    data.update(options)
    source = str(path) if path is not None else "oko-fleet serve"
    try:
        return parse_document(FleetSettings, data, source)
    except ConfigError as err:
        raise SettingsError(str(err)) from None

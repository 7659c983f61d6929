"""The box's top-level configuration document: the same YAML locally and as desired state.

The fleet pushes this document (device twin); the agent validates it with `AgentConfig`
before applying anything, so a typo or an out-of-range value is refused with the field's
dotted path and the last good document keeps running. Every field has a default, so a
minimal document (even ``{}``) is valid.

Fields marked "restart" in their description (data_dir, fleet endpoints, spool path) are
stored when pushed but only take effect at the next start: moving the spool or changing
the fleet under a live stream would risk the very events the spool protects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from agent.config.base import Section, load_yaml
from agent.config.camera import CameraSpec
from proto import transport

# The one default for where a box keeps its state; install.sh and the image use it too.
DEFAULT_DATA_DIR = Path("/var/lib/oko")

_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$")


def parse_endpoint(text: str, default_port: int | None = None) -> tuple[str, int]:
    """Split ``host:port`` (IPv6 in brackets); raises ValueError naming what is wrong."""
    text = text.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or "]" in port_text:
        if default_port is None:
            raise ValueError(f"{text!r} is not host:port")
        host, port_text = text, str(default_port)
    if not _HOST.match(host):
        raise ValueError(f"{text!r}: bad host {host!r}")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r}: port must be 1..65535, got {port_text!r}")
    return host, int(port_text)


def _endpoint(value: str) -> str:
    parse_endpoint(value)
    return value


class DeviceSection(Section):
    """How the box names itself to the fleet."""

    name: str = Field(
        default="", max_length=128, description="Human name sent at enrollment; empty = hostname."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Free-form labels sent at enrollment (e.g. district)."
    )


class FleetSection(Section):
    """Where the fleet is and how the uplink talks to it."""

    api: str = Field(
        default="", description="host:port of the fleet API port, used by `enroll` (restart)."
    )
    agent: str = Field(
        default="",
        description="host:port of the mTLS agent port; empty = what enrollment returned (restart).",
    )
    compression: Literal["gzip", "none"] = Field(
        default="gzip", description="gRPC message compression on the stream."
    )
    batch_max_events: int = Field(
        default=500,
        ge=1,
        le=transport.MAX_BATCH_EVENTS,
        description="Events per batch (the fleet's Welcome may lower it further).",
    )
    batch_max_bytes: int = Field(
        default=1 << 20,
        ge=1024,
        le=transport.MAX_MESSAGE_BYTES // 2,
        description="Serialized event bytes per batch; half the gRPC limit leaves headroom.",
    )
    batch_linger_s: float = Field(
        default=2.0,
        ge=0.0,
        le=60.0,
        description="Routine events wait up to this long for company before a partial batch "
        "is sent (alerts never wait): 1-event messages cost ~2x the bytes of 10-event batches "
        "with gzip (bench/uplink.py).",
    )
    max_in_flight: int = Field(
        default=4, ge=1, le=64, description="Batches sent but not yet acknowledged."
    )
    reconnect_min_s: float = Field(
        default=0.5, ge=0.01, le=60.0, description="First reconnect delay after the stream fails."
    )
    reconnect_max_s: float = Field(
        default=30.0, ge=0.1, le=3600.0, description="Ceiling of the exponential reconnect delay."
    )
    hello_timeout_s: float = Field(
        default=15.0, ge=0.5, le=300.0, description="Give up a connection attempt with no Welcome."
    )
    renew_at: float = Field(
        default=0.66,
        ge=0.1,
        le=0.9,
        description="Renew the device certificate once this fraction of its lifetime has "
        "passed (0.66: about 8 months into a 1-year certificate), over the stream's mutual "
        "TLS; a box offline at that time renews when it is back, as long as the certificate "
        "is still valid (docs/operations.md, Certificate renewal).",
    )
    renew_jitter: float = Field(
        default=0.1,
        ge=0.0,
        le=0.3,
        description="Spread renewals over this further fraction of the lifetime, by device id "
        "(stable across restarts), so boxes enrolled on the same day do not renew in the same "
        "second: 0.1 of a year spreads 19,000 boxes over 36 days.",
    )

    @field_validator("api", "agent")
    @classmethod
    def _endpoints(cls, value: str) -> str:
        return _endpoint(value) if value else value

    @model_validator(mode="after")
    def _ordered(self) -> FleetSection:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        if self.renew_at + self.renew_jitter > 0.95:
            raise ValueError("renew_at + renew_jitter must not exceed 0.95 (renew before expiry)")
        return self


class SpoolSection(Section):
    """The on-disk event queue (see `agent.spool`)."""

    path: Path | None = Field(
        default=None, description="Spool file; default <data_dir>/spool.db (restart)."
    )
    max_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1024 * 1024,
        le=1 << 40,
        description="Payload bytes kept before the drop policy discards the oldest routine "
        "events; file plus WAL take about 1.5x this (bench/spool.py).",
    )
    max_events: int = Field(
        default=2_000_000, ge=100, le=1_000_000_000, description="Events kept before dropping."
    )
    synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL", description="FULL survives power cuts; NORMAL only process crashes."
    )


class MetricsSection(Section):
    """The Prometheus endpoint."""

    enabled: bool = Field(default=True, description="Serve /metrics.")
    host: str = Field(default="127.0.0.1", min_length=1, description="Address to listen on.")
    port: int = Field(default=9464, ge=0, le=65535, description="Port; 0 picks a free one.")


class InferenceSection(Section):
    """How the box chooses its detector's backend, precision and threads (`oko-agent doctor`)."""

    measure: bool = Field(
        default=True,
        description="At first start, and whenever the CPU, a model or a backend version "
        "changes, time every installed backend x precision x thread count on frames of "
        "this box's cameras and run the fastest that agrees with FP32; false runs the "
        "CPU vendor's default (OpenVINO on Intel, else ONNX Runtime) (restart).",
    )
    measure_seconds: float = Field(
        default=2.0,
        ge=0.5,
        le=60.0,
        description="Timing per candidate when measuring; 8 candidates take about 10x this.",
    )


class ModelsSection(Section):
    """How the box takes model updates from the fleet (docs/operations.md, models)."""

    download_bytes_per_s: int = Field(
        default=0,
        ge=0,
        le=10_000_000_000,
        description="Cap on model download speed so events keep flowing on a thin link; "
        "0 = no cap.",
    )
    max_model_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024 * 1024,
        le=2 * 1024 * 1024 * 1024,
        description="A model announced larger than this is refused before any download.",
    )
    rollback_after_errors: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="Consecutive detector failures right after a swap that send the box "
        "back to its previous model.",
    )


class AgentConfig(Section):
    """The whole box configuration."""

    device: DeviceSection = Field(default_factory=DeviceSection, description="Device naming.")
    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="Identity, applied config and spool live here (restart).",
    )
    fleet: FleetSection = Field(default_factory=FleetSection, description="Fleet and uplink.")
    spool: SpoolSection = Field(default_factory=SpoolSection, description="Event spool.")
    metrics: MetricsSection = Field(default_factory=MetricsSection, description="Metrics.")
    inference: InferenceSection = Field(
        default_factory=InferenceSection, description="Detector backend choice."
    )
    models: ModelsSection = Field(
        default_factory=ModelsSection, description="Model updates from the fleet."
    )
    cameras: tuple[CameraSpec, ...] = Field(
        default=(),
        max_length=64,
        description="Per-camera sections (capture, motion gate, tracker, analytics rules); "
        "ids must be unique.",
    )

    @field_validator("cameras")
    @classmethod
    def _unique_camera_ids(cls, cameras: tuple[CameraSpec, ...]) -> tuple[CameraSpec, ...]:
        # Ids key readers, health reports, events and per-camera sequences. The error is
        # placed on the duplicate's own `id` so it reads `cameras[1].id: duplicate ...`.
        seen: dict[str, int] = {}
        for index, camera in enumerate(cameras):
            if camera.id in seen:
                error = PydanticCustomError(
                    "duplicate_camera_id",
                    "duplicate '{id}' (also cameras[{first}])",
                    {"id": camera.id, "first": seen[camera.id]},
                )
                detail = InitErrorDetails(type=error, loc=(index, "id"), input=camera.id)
                raise ValidationError.from_exception_data("cameras", [detail])
            seen[camera.id] = index
        return cameras

    def spool_path(self) -> Path:
        """Where the spool file lives for this config."""
        return self.spool.path or self.data_dir / "spool.db"


@dataclass(frozen=True)
class BoxConfig:
    """A validated agent.yaml: the box settings and its cameras, each fully checked."""

    agent: AgentConfig
    cameras: tuple[CameraSpec, ...]
    has_fleet: bool  # the document has a `fleet:` section (uplink wanted, if enrolled)


def load_box_config(path: str | Path) -> BoxConfig:
    """Read agent.yaml for `oko-agent run`; `ConfigError` names the file and the field."""
    agent = load_yaml(AgentConfig, path)
    return BoxConfig(agent, agent.cameras, "fleet" in agent.model_fields_set)

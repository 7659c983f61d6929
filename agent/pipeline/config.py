"""What the pipeline reads from YAML: one camera with its rules, or a whole box.

A camera entry is flat: capture keys (`CameraConfig`: id, source, detect_fps, motion, ...)
and analytics keys (`CameraAnalyticsConfig`: tracker, lines, zones, traffic, abandoned) side
by side, so the file `oko-agent analyze --config` reads can be pasted as one item of a box's
`cameras:` list unchanged. Every error names the file and the dotted field path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agent.config.agent import AgentConfig
from agent.config.analytics import CameraAnalyticsConfig
from agent.config.base import load_yaml, parse_document
from agent.config.camera import CameraConfig, parse_cameras
from agent.errors import ConfigError


class CameraSpec(CameraAnalyticsConfig, CameraConfig):
    """One camera: its source, capture pacing and motion gate, tracker and analytics rules.

    The same document is one item of agent.yaml's `cameras:` list, or the whole file given
    to `oko-agent analyze --config` (where `source` may be left out: the video is the source).
    """


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def load_camera_spec(
    path: str | Path, source: str | None = None, realtime: bool | None = None
) -> CameraSpec:
    """Read one camera's document; `source`/`realtime`, if given, replace what it says.

    Offline analysis passes the video as `source` and `realtime=False` so the file is read
    as fast as the pipeline goes, losing no frame.
    """
    path = Path(path)
    data = _read_mapping(path)
    if source is not None:
        data["source"] = source
    if realtime is not None:
        data["realtime"] = realtime
    return parse_document(CameraSpec, data, str(path))


def parse_camera_specs(entries: Sequence[Any], source: str = "<config>") -> list[CameraSpec]:
    """Validate a box's `cameras:` list; errors name `cameras[i].field`; ids must be unique."""
    return parse_cameras(entries, source, CameraSpec)


@dataclass(frozen=True)
class BoxConfig:
    """A validated agent.yaml: the box settings and its cameras, each fully checked."""

    agent: AgentConfig
    cameras: tuple[CameraSpec, ...]
    has_fleet: bool  # the document has a `fleet:` section (uplink wanted, if enrolled)


def load_box_config(path: str | Path) -> BoxConfig:
    """Read agent.yaml for `oko-agent run`; `ConfigError` names the file and the field."""
    agent = load_yaml(AgentConfig, path)
    cameras = parse_camera_specs(agent.cameras, str(path))
    return BoxConfig(agent, tuple(cameras), "fleet" in agent.model_fields_set)


def check_box_document(config: AgentConfig) -> None:
    """Desired-state checker: a pushed document's cameras must validate like a local one."""
    parse_camera_specs(config.cameras, "desired state")


def detector_threshold(specs: Sequence[CameraAnalyticsConfig]) -> float:
    """Score threshold the shared detector must run at for every camera's tracker.

    ByteTrack's second stage feeds on detections between its low and high thresholds, so
    the detector must not cut them off: the lowest `tracker.low_threshold` of the box wins.
    """
    if not specs:
        return CameraAnalyticsConfig().tracker.low_threshold
    return min(spec.tracker.low_threshold for spec in specs)


__all__ = [
    "BoxConfig",
    "CameraConfig",
    "CameraSpec",
    "check_box_document",
    "detector_threshold",
    "load_box_config",
    "load_camera_spec",
    "parse_camera_specs",
]

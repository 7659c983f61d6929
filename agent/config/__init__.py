"""Configuration: one pydantic model per section, loaded from one readable YAML file.

Pure pydantic and string parsing: no OpenCV, numpy or I/O beyond reading the file asked
for, so the fleet validates documents with these same models before storing them.
"""

from agent.config.agent import DEFAULT_DATA_DIR, AgentConfig, BoxConfig, load_box_config
from agent.config.base import (
    ID_PATTERN,
    Section,
    format_validation_error,
    load_yaml,
    parse_document,
    parse_yaml,
)
from agent.config.camera import CameraConfig, CameraSpec, load_camera_spec
from agent.errors import ConfigError

__all__ = [
    "DEFAULT_DATA_DIR",
    "ID_PATTERN",
    "AgentConfig",
    "BoxConfig",
    "CameraConfig",
    "CameraSpec",
    "ConfigError",
    "Section",
    "format_validation_error",
    "load_box_config",
    "load_camera_spec",
    "load_yaml",
    "parse_document",
    "parse_yaml",
]

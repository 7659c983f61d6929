"""Shared base for config sections and the YAML loader.

Every section forbids unknown keys, so a typo is an error naming the field rather than a
setting silently ignored. Validators validate; loading files is done here, once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from agent.errors import ConfigError

T = TypeVar("T", bound=BaseModel)

# Camera ids and rule ids (lines, zones...): they end up in events, metric labels, file
# names and fleet terminals, so letters, digits, '_', '.', '-' only, 1..64 characters.
# The fleet enforces the same pattern on everything a box sends (fleet/limits.py).
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<document>"


def format_validation_error(err: ValidationError, source: str) -> str:
    """One line per problem, each naming the dotted field path: `cameras[0].fps: ...`."""
    lines = [f"{source}: {err.error_count()} invalid field(s)"]
    for item in err.errors():
        lines.append(f"  {_field_path(tuple(item['loc']))}: {item['msg']}")
    return "\n".join(lines)


def parse_document(model: type[T], data: Any, source: str = "<config>") -> T:
    """Validate an already-parsed document against `model`, raising `ConfigError`."""
    return _validate(model, _mapping(data, source), source)


def _mapping(data: Any, source: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping, got {type(data).__name__}")
    return data


def _validate(model: type[T], data: dict[str, Any], source: str) -> T:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from err


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """YAML (or JSON) text to a mapping: the project's one YAML reader.

    An empty document is ``{}``; anything but a mapping at the top, or text YAML cannot
    parse, is a `ConfigError` naming `source`. Only `yaml.safe_load`: a config never builds
    Python objects.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from err
    return _mapping(data, source)


def read_config_text(path: str | Path) -> str:
    """A config file's text; unreadable or non-UTF-8 is one `ConfigError` naming the file.

    YAML configs are UTF-8 (YAML 1.2 allows UTF-16/32 too, but with a BOM nobody writes
    by hand); a Latin-1 camera name or a binary file copied by mistake must give one line
    saying which file and where, never a `UnicodeDecodeError` traceback.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config: {err.strerror or err}") from err
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{data[err.start]:02x} at line {line}, "
            f"offset {err.start}); save the file as UTF-8"
        ) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML file into a mapping; every failure is a `ConfigError` naming the file."""
    return parse_yaml(read_config_text(path), str(path))


def load_yaml(model: type[T], path: str | Path) -> T:
    """Read a YAML file and validate it; every failure is a `ConfigError` naming the file."""
    return _validate(model, read_yaml(path), str(path))

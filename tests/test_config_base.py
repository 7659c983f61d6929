"""Config loading: every failure names the file and the dotted field path."""

from pathlib import Path

import pytest
from pydantic import Field

from agent.config.base import Section, load_yaml
from agent.errors import ConfigError


class Camera(Section):
    id: str = Field(description="camera id", min_length=1)
    fps: float = Field(5.0, description="detect rate", gt=0, le=30)


class Doc(Section):
    cameras: list[Camera] = Field(default_factory=list, description="cameras")


def test_valid_yaml_loads(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("cameras:\n  - id: a\n    fps: 2\n")
    assert load_yaml(Doc, p).cameras[0].fps == 2


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("cameras:\n  - id: a\n    fps: 99\n", "cameras[0].fps"),
        ("cameras:\n  - id: a\n    fsp: 2\n", "cameras[0].fsp: Extra inputs are not permitted"),
        ("cameras: [\n", "not valid YAML"),
        ("- 1\n", "top level must be a mapping"),
    ],
)
def test_errors_name_the_field(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_yaml(Doc, p)
    assert needle in str(info.value) and str(p) in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_yaml(Doc, tmp_path / "nope.yaml")

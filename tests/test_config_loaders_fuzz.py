"""The agent's config loaders on hostile input: one `ConfigError` naming the file, never a crash.

Fuzzed with hypothesis, bounded (`max_examples` small, no deadline: the machine is shared):
arbitrary bytes as a file, arbitrary YAML-shaped documents built from the real field names,
and pushed desired-state documents. Whatever comes in, each loader either returns a valid
model or raises `ConfigError` whose message starts with the source it read.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.config.agent import AgentConfig, load_box_config
from agent.config.base import load_yaml, read_yaml
from agent.config.camera import CameraSpec, load_camera_spec
from agent.errors import ConfigError
from agent.uplink.desired import validate_document

REPO = Path(__file__).resolve().parents[1]
FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)


def _keys(model: Any) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(model.model_fields)) | st.text(max_size=12)


camera_docs = st.dictionaries(_keys(CameraSpec), values, max_size=6)
agent_docs = st.dictionaries(
    _keys(AgentConfig), values | st.lists(camera_docs, max_size=2), max_size=6
)


def _load_all(path: Path) -> None:
    """Every file loader of the agent, each held to the same contract."""
    loaders = (read_yaml, functools.partial(load_yaml, AgentConfig), load_box_config)
    for load in (*loaders, load_camera_spec):
        try:
            load(path)
        except ConfigError as err:
            assert str(err).startswith(str(path)), err


def _with_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "agent.yaml"
        path.write_bytes(data)
        _load_all(path)


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_as_a_config_file_give_a_config_error_or_a_config(data: bytes) -> None:
    _with_file(data)


@FUZZ
@given(agent_docs)
def test_any_document_shaped_like_agent_yaml_is_validated_or_named(doc: dict[str, Any]) -> None:
    _with_file(yaml.safe_dump(doc, allow_unicode=True).encode())


@FUZZ
@given(agent_docs | st.text(max_size=200))
def test_pushed_desired_state_documents_are_validated_or_named(doc: Any) -> None:
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc, allow_unicode=True)
    try:
        validate_document(text, "desired v7")
    except ConfigError as err:
        assert str(err).startswith("desired v7"), err


@pytest.mark.parametrize(
    "data",
    [b"cameras: []\nname: caf\xe9\n", b"\xff\xfe\x00\x00garbage", b"\x89PNG\r\n\x1a\n\x00\x00"],
)
def test_non_utf8_config_is_one_line_naming_the_file(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0x[0-9a-f]{2} at line \d+"):
        read_yaml(path)
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", "--config", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {path}: not UTF-8 text"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr

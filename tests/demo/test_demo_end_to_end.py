"""`oko-agent demo` as a new user runs it: real fleet process, enrollment, uplink, OCC stream."""

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and "pytest" not in cmdline:
            found.append(cmdline)
    return found


@pytest.mark.slow
def test_demo_delivers_every_event_and_leaves_nothing_running(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "demo", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    # the hand-labelled line: 12 rightwards, 15 leftwards (tests/data/labels)
    assert "12 (rightwards)" in out and "15 (leftwards)" in out, out[-3000:]
    assert "events left in the box's spool" in out
    assert (data / "fleet" / "fleet.db").is_file() and (data / "agent").is_dir()
    assert str(data / "fleet") in out.replace("\n", "")
    assert _processes_mentioning(str(data)) == []


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "demo", "--data-dir", str(precious)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "was not made by the demo" in proc.stderr
    assert (precious / "thesis.txt").read_text() == "do not delete"

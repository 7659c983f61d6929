"""`oko-agent demo` as a new user runs it: real fleet process, enrollment, uplink, OCC stream."""

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest


def _pids_mentioning(text: str) -> dict[int, str]:
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and "pytest" not in cmdline:
            found[int(pid)] = cmdline
    return found


def _processes_mentioning(text: str) -> list[str]:
    return list(_pids_mentioning(text).values())


def _run_demo(
    argv: list[str], data: Path, timeout: float, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run the demo; on a timeout kill its process group and every process naming its data
    dir (its fleet runs in a session of its own): they would otherwise be left running, and
    loading the machine, after the test failed."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in _pids_mentioning(str(data)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(
            f"oko-agent demo did not finish within {timeout:.0f} s:\n{out[-3000:]}{err[-3000:]}"
        ) from None
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.mark.slow
def test_demo_delivers_every_event_and_leaves_nothing_running(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    proc = _run_demo(
        [sys.executable, "-m", "agent.cli", "demo", "--data-dir", str(data)],
        data,
        timeout=240,
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

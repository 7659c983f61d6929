"""Spool under faults: kill -9 mid-write, corrupt files, a second owner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.errors import SpoolError
from agent.spool import Spool
from proto.oko.v1 import events_pb2
from tests.support.events import make_events

ROOT = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("spool_writer.py")
BATCH = 250


def _start_writer(db: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(db), str(BATCH)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _read_commits(proc: subprocess.Popen[str], want: int, deadline: float) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    while len(lines) < want:
        assert time.monotonic() < deadline, "writer too slow"
        line = proc.stdout.readline()
        assert line, f"writer died: {proc.stderr.read() if proc.stderr else ''}"
        lines.append(line)
    return lines


@pytest.mark.parametrize("delay", [0.0, 0.013, 0.037])
def test_kill_9_mid_append_loses_no_committed_event_and_keeps_no_partial_batch(
    tmp_path: Path, delay: float
) -> None:
    db = tmp_path / "spool.db"
    proc = _start_writer(db)
    try:
        announced = _read_commits(proc, 4, time.monotonic() + 60)
        # While the writer owns the spool, nobody else may open it.
        with pytest.raises(SpoolError, match="in use by another process"):
            Spool(db)
        time.sleep(delay)  # land somewhere inside a later append
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.stdout is not None
        announced += proc.stdout.readlines()  # commits printed just before the kill
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    committed_batches = len(announced)
    with Spool(db) as spool:  # opening runs SQLite's integrity check
        items = spool.peek_batch(max_events=1_000_000, max_bytes=1 << 40)
        assert spool.depth() == len(items)
    ids = {item.event_id for item in items}
    for line in announced:
        assert line.split()[2] in ids  # every batch the writer saw committed is there
    # Whole batches only: at most one more batch than announced (committed, not yet printed).
    assert len(items) % BATCH == 0
    assert len(items) // BATCH in (committed_batches, committed_batches + 1)
    sequences = []
    for item in items:
        event = events_pb2.Event()
        event.ParseFromString(item.payload)
        sequences.append(event.sequence)
    assert sequences == list(range(1, len(items) + 1))


def test_a_file_that_is_not_a_database_is_a_clear_error_and_left_untouched(
    tmp_path: Path,
) -> None:
    db = tmp_path / "spool.db"
    junk = b"this is not sqlite " * 300
    db.write_bytes(junk)
    with pytest.raises(SpoolError) as caught:
        Spool(db)
    assert str(db) in str(caught.value)
    assert "not a usable spool database" in str(caught.value)
    assert db.read_bytes() == junk


def test_damaged_pages_are_detected_at_open(tmp_path: Path) -> None:
    db = tmp_path / "spool.db"
    with Spool(db) as spool:
        spool.append(make_events("cam-a", 400, kind="face"))
    raw = bytearray(db.read_bytes())
    assert len(raw) > 5 * 4096
    raw[2 * 4096 : 4 * 4096] = b"\xa5" * (2 * 4096)  # wreck two interior pages
    db.write_bytes(bytes(raw))
    with pytest.raises(SpoolError, match=str(db)):
        Spool(db)


def test_second_owner_in_the_same_process_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "spool.db"
    with Spool(db), pytest.raises(SpoolError, match="in use"):
        Spool(db)
    with Spool(db) as again:  # released on close
        assert again.depth() == 0

"""`oko-agent detect` as a user runs it: real process, real model, real files."""

import json
import subprocess
import sys
from pathlib import Path

AGENT = [sys.executable, "-m", "agent.cli"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AGENT, *args], capture_output=True, text=True, timeout=120, check=False)


def test_json_lines_per_frame_in_source_pixels() -> None:
    proc = _run("detect", "tests/data/vtest.avi", "--every", "300", "--json")
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["frame"] for r in records] == [0, 300, 600]
    for r in records:
        assert r["source"] == "tests/data/vtest.avi"
        for d in r["detections"]:
            x1, y1, x2, y2 = d["box"]
            assert 0 <= x1 < x2 <= 768 and 0 <= y1 < y2 <= 576
            assert 0 < d["score"] <= 1
    persons = [d for d in records[1]["detections"] if d["label"] == "person"]
    assert len(persons) >= 4


def test_table_output_for_an_image() -> None:
    proc = _run("detect", "tests/data/messi5.jpg")
    assert proc.returncode == 0, proc.stderr
    assert "person" in proc.stdout and "messi5.jpg frame 0" in proc.stdout


def test_bad_inputs_exit_2_with_a_clear_message(tmp_path: Path) -> None:
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(b"\x00garbage" * 1000)
    proc = _run("detect", str(garbage))
    assert proc.returncode == 2
    assert "broken.mp4" in proc.stderr
    proc = _run("detect", str(tmp_path / "missing.jpg"))
    assert proc.returncode == 2 and "no such file" in proc.stderr
    proc = _run("detect", "tests/data/messi5.jpg", "--backend", "cuda")
    assert proc.returncode == 2 and "unknown backend 'cuda'" in proc.stderr

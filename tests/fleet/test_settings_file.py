"""`oko-fleet serve --config FILE`: a settings file that is not UTF-8, or names a bad
field, is one line naming the file (and the field), exit 2 (issue 9, items 14 and 15)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.fleet import ROOT


def test_a_settings_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_bytes(b"listen: caf\xe9:7440\n")
    result = subprocess.run(
        [sys.executable, "-m", "fleet.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {config}: not UTF-8 text (byte 0xe9 at offset 11); save the file as UTF-8"
    )
    config.write_text("listen: 127.0.0.1:1\nmax_connections: 1\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "fleet.cli", "serve", "--config", str(config), "--data-dir", "x"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 2 and "max_connections: Input should be greater" in result.stderr
    assert "Traceback" not in result.stderr

"""What the README's commands write lands in paths git ignores, never as stray repo files."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _ignored(path: str) -> bool:
    done = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", path], cwd=REPO, check=False, timeout=30
    )
    return done.returncode == 0


def test_the_readme_analyze_example_writes_only_ignored_files() -> None:
    readme = (REPO / "README.md").read_text()
    command = re.search(r"oko-agent analyze .*?(?=\n\.venv|\n```)", readme, re.S)
    assert command, "the README shows an analyze example"
    outputs = re.findall(r"--(?:events|annotate) (\S+)", command.group(0))
    assert len(outputs) == 2, command.group(0)
    for output in outputs:
        assert _ignored(output), f"{output} (README analyze example) is not git-ignored"
    # Run without --events/--annotate, analyze writes <stem>.events.jsonl into the cwd.
    assert _ignored("vtest.events.jsonl") and _ignored("vtest.annotated.mp4")

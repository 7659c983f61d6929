"""docs/reference/ is generated from the code; these tests keep the committed copy true."""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "docs" / "reference"
FIX = "run `python scripts/gen_docs.py` and commit docs/reference/"


def gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", REPO / "scripts" / "gen_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_reference_matches_the_code(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_docs.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    generated = sorted(p.name for p in tmp_path.iterdir())
    assert generated == ["cli.md", "config.md"]
    for name in generated:
        committed = REFERENCE / name
        assert committed.is_file(), f"docs/reference/{name} is missing: {FIX}"
        assert committed.read_text() == (tmp_path / name).read_text(), (
            f"docs/reference/{name} is out of date: {FIX}"
        )


def test_an_undocumented_config_section_fails_the_generator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = gen_docs()
    roots = [r for r in module.CONFIG_ROOTS if not r[0].endswith(":FleetSettings")]
    monkeypatch.setattr(module, "CONFIG_ROOTS", roots)
    with pytest.raises(SystemExit, match=r"fleet\.config:FleetSettings[^;]*; add them to"):
        module.config_reference()


def _sections(text: str) -> dict[str, str]:
    """`prog sub ...` heading -> the Markdown under it, from the generated reference."""
    parts = re.split(r"^#{2,4} `([^`]+)`$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_option_in_help_is_in_the_cli_reference() -> None:
    """Cross-check against typer's own `--help` rendering, which the generator does not use."""
    apps = {"oko-agent": "agent.cli:app", "oko-fleet": "fleet.cli:app", "okoctl": "fleet.ctl:app"}
    sections = _sections((REFERENCE / "cli.md").read_text())
    assert set(apps) <= set(sections)
    runner = CliRunner()
    for heading, body in sections.items():
        program, *args = heading.split()
        module, _, name = apps[program].partition(":")
        app = getattr(importlib.import_module(module), name)
        result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "250", "NO_COLOR": "1"})
        assert result.exit_code == 0, f"{heading} --help: {result.output}"
        # Option rows start a line (inside rich's panel or not); descriptions may cite others.
        rows = re.findall(r"^[\s│*]*(?:-\w,\s*)?(--[a-z][a-z0-9-]*)", result.output, re.M)
        options = set(rows) - {"--help"}
        missing = sorted(o for o in options if f"`{o}`" not in body)
        assert not missing, f"{heading}: {missing} not in docs/reference/cli.md: {FIX}"


# The pages this test guards; other docs/ pages belong to their own areas.
LINKED_PAGES = [
    "README.md",
    "docs/quickstart.md",
    "docs/architecture.md",
    "docs/operations.md",
    "docs/reference/config.md",
    "docs/reference/cli.md",
]


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to dashes."""
    headings = re.findall(r"^#{1,6} (.+)$", markdown, re.M)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", LINKED_PAGES)
def test_links_point_at_files_and_headings_that_exist(page: str) -> None:
    path = REPO / page
    text = path.read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        assert linked.exists(), f"{page}: link to missing {target}"
        if anchor:
            assert anchor in _anchors(linked.read_text()), f"{page}: no heading #{anchor}"

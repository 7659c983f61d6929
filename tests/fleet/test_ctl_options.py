"""okoctl's global options work before and after the command (issue 9, item 15)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from fleet.ctl import app as okoctl
from fleet.ctl import hoist_global_options
from tests.fleet.conftest import Fleet

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def _run(*args: str) -> Any:
    return CliRunner().invoke(okoctl, list(args), env={"COLUMNS": "200"})


async def test_global_options_after_the_command(fleet: Fleet) -> None:
    where = [
        "--fleet",
        f"localhost:{fleet.server.api_port}",
        f"--token={fleet.admin}",
        "--ca-file",
        str(fleet.data_dir / "ca" / "ca.pem"),
    ]
    # Blocking client in a thread: the server runs on this test's event loop.
    after = await asyncio.to_thread(_run, "token", "create-api", "--name", "ci", *where, "--json")
    assert after.exit_code == 0, after.stderr
    assert json.loads(after.stdout)["token"].startswith("okoa.")
    before = await asyncio.to_thread(_run, "--json", *where, "status")
    mixed = await asyncio.to_thread(_run, where[0], where[1], "status", *where[2:], "--json")
    assert before.exit_code == mixed.exit_code == 0, before.stderr + mixed.stderr
    assert json.loads(before.stdout)["version"] == json.loads(mixed.stdout)["version"]
    # Without the token (anywhere) the call is refused as before.
    refused = await asyncio.to_thread(_run, "status", *where[:2], *where[3:])
    assert refused.exit_code == 1 and "UNAUTHENTICATED" in refused.stderr


def test_hoisting_moves_only_global_options() -> None:
    args = ["config", "set", "dev-1", "-f", "x.yaml", "--json", "--token", "T", "--", "--json"]
    assert hoist_global_options(args) == [
        "--json",
        "--token",
        "T",
        "config",
        "set",
        "dev-1",
        "-f",
        "x.yaml",
        "--",
        "--json",
    ]

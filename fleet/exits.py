"""Exit codes of `oko-fleet` and `okoctl`: the agent's convention (`agent/commands/exits.py`).

    0  done
    1  the command started and failed (a call the fleet refused, a server that stopped)
    2  the command could not start: a bad option, value or file; the message names it

Kept here rather than imported because the fleet uses nothing of the agent but its config
models; `tests/test_package_boundaries.py` checks the two stay equal.
"""

from __future__ import annotations

from typing import NoReturn

import typer

FAILURE = 1
USAGE = 2


def fail(error: Exception | str, code: int) -> NoReturn:
    """Print `error: <error>` as one line on stderr and exit with `code`."""
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(code)

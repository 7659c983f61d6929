"""Exit codes of `oko-agent`, the convention `oko-fleet` and `okoctl` follow too.

    0  done
    1  the command started and failed, or finished incomplete (fleet unreachable, enrollment
       refused, a box that stopped on an error, events left undelivered)
    2  the command could not start: a bad option, config file or input (typer's own usage
       errors exit 2 as well); the message names the option, file or field

Errors are one plain line on stderr, `error: <what>`, never wrapped, so they stay greppable.
The fleet keeps the same convention in `fleet/exits.py` (it may not import agent internals).
"""

from __future__ import annotations

from typing import NoReturn

import typer

FAILURE = 1
USAGE = 2


def fail(error: Exception | str, code: int, prefix: str = "error") -> NoReturn:
    """Print `prefix: error` as one line on stderr and exit with `code`."""
    typer.echo(f"{prefix}: {error}", err=True)
    raise typer.Exit(code)

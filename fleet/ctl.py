"""`okoctl`: the fleet admin CLI."""

from __future__ import annotations

import typer

from fleet import __version__

app = typer.Typer(help="Oko fleet admin CLI.", no_args_is_help=True, add_completion=False)


@app.callback()
def _main() -> None:
    """Run one of the commands below."""


@app.command()
def version() -> None:
    """Print okoctl's version."""
    typer.echo(__version__)

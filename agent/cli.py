"""`oko-agent`: the edge box's command line. A thin typer layer over library functions."""

from __future__ import annotations

import typer

from agent import __version__

app = typer.Typer(help="Oko edge agent.", no_args_is_help=True, add_completion=False)


@app.callback()
def _main() -> None:
    """Run one of the commands below."""


@app.command()
def version() -> None:
    """Print the agent's version."""
    typer.echo(__version__)

"""`oko-agent`: the edge box's command line. A thin typer layer over library functions.

Each command lives in `agent/commands/`; this module only assembles the app.
"""

from __future__ import annotations

import logging
import os

import typer

from agent import __version__
from agent.commands.analyze import analyze
from agent.commands.calibrate import calibrate
from agent.commands.demo import demo
from agent.commands.detect import detect
from agent.commands.doctor import doctor
from agent.commands.enroll import enroll
from agent.commands.model import app as model_app
from agent.commands.run import run

app = typer.Typer(help="Oko edge agent.", no_args_is_help=True, add_completion=False)


@app.callback()
def _main() -> None:
    """Oko edge agent: run models and cameras on the box, send events to the fleet."""
    logging.basicConfig(
        level=os.environ.get("OKO_LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def version() -> None:
    """Print the agent's version."""
    typer.echo(__version__)


app.command()(detect)
app.command()(enroll)
app.command()(analyze)
app.command()(run)
app.command()(demo)
app.command()(doctor)
app.command()(calibrate)
app.add_typer(model_app, name="model")


if __name__ == "__main__":
    app()

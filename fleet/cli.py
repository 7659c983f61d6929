"""`oko-fleet`: run the fleet server. A thin typer layer over `fleet.server`."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from agent.config import format_validation_error
from fleet import __version__
from fleet.config import FleetSettings
from fleet.errors import FleetError
from fleet.exits import FAILURE, USAGE, fail
from fleet.server import start_server

app = typer.Typer(help="Oko fleet server.", no_args_is_help=True, add_completion=False)
log = logging.getLogger(__name__)


def _default(name: str) -> Any:
    """A `serve` option's default is the settings model's: stated once, in `FleetSettings`."""
    return FleetSettings.model_fields[name].default


@app.callback()
def _main() -> None:
    """Run one of the commands below."""
    logging.basicConfig(
        level=os.environ.get("OKO_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def version() -> None:
    """Print the fleet server's version."""
    typer.echo(__version__)


async def _serve(settings: FleetSettings) -> None:
    server = await start_server(settings)
    # Everything loaded so far (grpc, protobuf, our modules) lives as long as the process;
    # freezing it keeps full collections, which stall the event loop, from rescanning it.
    gc.freeze()
    if server.app.bootstrap_token:
        typer.echo(
            "First start. Admin token (shown once, stored only hashed):\n"
            f"  {server.app.bootstrap_token}\n"
            f"CA certificate for clients: {settings.data_dir / 'ca' / 'ca.pem'}"
        )
    # Machine-readable line: tests and scripts read the real ports from it (port 0 = any).
    typer.echo(f"serving api={server.api_port} agent={server.agent_port}", color=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")
    await server.stop()


@app.command()
def serve(
    data_dir: Annotated[Path, typer.Option(help="Store, CA and certificates.")],
    listen: Annotated[str, typer.Option(help="API port (TLS): enroll, admin, events.")] = _default(
        "listen"
    ),
    agent_listen: Annotated[str, typer.Option(help="Agent port (mutual TLS).")] = _default(
        "agent_listen"
    ),
    advertise_agent: Annotated[
        str, typer.Option(help="host:port boxes should connect to.")
    ] = _default("advertise_agent"),
    hostname: Annotated[
        list[str] | None, typer.Option(help="Extra server certificate name (repeatable).")
    ] = None,
    metrics_listen: Annotated[str, typer.Option(help="Prometheus HOST:PORT; '' = off.")] = _default(
        "metrics_listen"
    ),
) -> None:
    """Serve the fleet until SIGTERM/SIGINT. The first start creates the CA and an admin token."""
    try:
        settings = FleetSettings(
            data_dir=data_dir,
            listen=listen,
            agent_listen=agent_listen,
            advertise_agent=advertise_agent,
            hostnames=tuple(hostname or ()),
            metrics_listen=metrics_listen,
        )
    except ValidationError as err:
        fail(format_validation_error(err, "oko-fleet serve"), USAGE)
    try:
        asyncio.run(_serve(settings))
    except FleetError as err:
        fail(err, FAILURE)


if __name__ == "__main__":
    app()

"""`oko-fleet`: run the fleet server. A thin typer layer over `fleet.server`."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import resource
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from fleet import __version__, backup
from fleet.app import reset_admin_token
from fleet.config import FleetSettings, SettingsError, load_settings
from fleet.errors import FleetError
from fleet.exits import FAILURE, USAGE, fail
from fleet.server import start_server
from fleet.store.pg_url import redact
from fleet.store.select import check_store_url

app = typer.Typer(help="Oko fleet server.", no_args_is_help=True, add_completion=False)
admin_token_app = typer.Typer(help="The fleet's own admin token.", no_args_is_help=True)
app.add_typer(admin_token_app, name="admin-token")
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
    if server.console is not None:
        host = settings.console_listen.rpartition(":")[0]
        typer.echo(f"console https://{host}:{server.console.port}/", color=False)
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
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(help="YAML settings file: any key of FleetSettings; options override it."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Store, CA and certificates (or `data_dir` in --config).")
    ] = None,
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
    store: Annotated[
        str,
        typer.Option(
            help="'' = SQLite in the data dir; postgresql://... = shared store (oko-fleet migrate)."
        ),
    ] = _default("store"),
    nats: Annotated[
        str, typer.Option(help="nats://HOST:PORT[,...]: fan-out between replicas (JetStream).")
    ] = _default("nats"),
    replica_id: Annotated[
        str, typer.Option(help="This replica's name (leases, logs); '' = hostname-pid.")
    ] = _default("replica_id"),
    console_listen: Annotated[
        str,
        typer.Option(
            "--console",
            help="Serve the web console on HOST:PORT (HTTPS, docs/console.md); '' = off.",
        ),
    ] = _default("console_listen"),
) -> None:
    """Serve the fleet until SIGTERM/SIGINT. The first start creates the CA and an admin token.

    Settings come from --config (every key of FleetSettings, docs/reference/config.md)
    and these options, which win over the file.
    """
    options = {
        "data_dir": data_dir,
        "listen": listen,
        "agent_listen": agent_listen,
        "advertise_agent": advertise_agent,
        "hostnames": tuple(hostname or ()),
        "metrics_listen": metrics_listen,
        "store": store,
        "nats": nats,
        "replica_id": replica_id,
        "console_listen": console_listen,
    }
    param = {"hostnames": "hostname"}
    given = {  # only what was given (command line or environment) overrides the file
        key: value
        for key, value in options.items()
        if getattr(ctx.get_parameter_source(param.get(key, key)), "name", "DEFAULT") != "DEFAULT"
    }
    try:
        settings = load_settings(config, given)
    except SettingsError as err:
        fail(err, USAGE)
    _raise_fd_limit(settings)
    try:
        asyncio.run(_serve(settings))
    except FleetError as err:
        fail(err, FAILURE)


def _raise_fd_limit(settings: FleetSettings) -> None:
    """Raise the soft file descriptor limit to the hard one: every connection costs one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    needed = 2 * settings.max_connections + 256  # both ports, plus store, logs, webhooks
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning(
            "file descriptor limit %s is below the %s that max_connections=%s on two ports may "
            "need; raise it (LimitNOFILE= in the unit, ulimit -n) or lower max_connections",
            soft,
            needed,
            settings.max_connections,
        )


@app.command("backup")
def backup_command(
    directory: Annotated[Path, typer.Argument(help="New (or empty) directory to write.")],
    data_dir: Annotated[Path, typer.Option(help="The fleet's data directory.")],
    store: Annotated[
        str, typer.Option(help="The fleet's postgresql://... store, if not SQLite.")
    ] = "",
) -> None:
    """Back up the store, the CA and the keys into DIRECTORY (0700, files 0600), also while serving.

    SQLite is copied with its online backup API, PostgreSQL with pg_dump (each a consistent
    snapshot while boxes keep sending); a manifest of SHA-256 sums lets `restore` refuse a
    damaged copy.
    """
    try:
        done = backup.backup(data_dir, directory, store)
    except FleetError as err:
        fail(err, FAILURE)
    typer.echo(
        f"backed up {done.events} events, {done.devices} devices and the CA "
        f"({done.files} files) into {done.directory}"
    )


@app.command("restore")
def restore_command(
    directory: Annotated[Path, typer.Argument(help="A directory `oko-fleet backup` wrote.")],
    data_dir: Annotated[Path, typer.Option(help="New (or empty) data directory to fill.")],
    store: Annotated[
        str, typer.Option(help="A new, empty postgresql://... database, for a PostgreSQL backup.")
    ] = "",
) -> None:
    """Restore a backup into a new data directory; then `oko-fleet serve --data-dir` it.

    Every file is checked against the backup's manifest first; nothing is written into a
    directory that already holds anything. Boxes keep working: the CA is the same.
    """
    try:
        done = backup.restore(directory, data_dir, store)
    except FleetError as err:
        fail(err, FAILURE)
    typer.echo(
        f"restored {done.events} events, {done.devices} devices and the CA into "
        f"{done.directory}; start it with: oko-fleet serve --data-dir {done.directory}"
        + (f" --store {redact(store)}" if store else "")
    )


@app.command()
def migrate(
    store: Annotated[
        str, typer.Option(help="postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE to migrate.")
    ],
    revision: Annotated[
        str, typer.Option(help="Target revision (default: the newest this fleet knows).")
    ] = "head",
) -> None:
    """Create or upgrade the PostgreSQL store's schema (Alembic); safe to run again.

    Run it before the first `oko-fleet serve --store postgresql://...` and after every
    upgrade of the fleet, from one place (replicas refuse a database on another revision).
    SQLite stores need no migrate: the fleet upgrades its own file on start.
    """
    try:
        check_store_url(store)
    except ValueError as err:
        fail(FleetError(str(err)), USAGE)
    if not store:
        fail(FleetError("--store is empty: migrate is for a postgresql:// store"), USAGE)
    from fleet.store import pg_migrate

    try:
        before, after = pg_migrate.migrate_reporting(store, revision)
    except FleetError as err:
        fail(err, FAILURE)
    if before == after:
        typer.echo(f"{redact(store)} is at revision {after}: nothing to do")
    else:
        typer.echo(f"migrated {redact(store)} from revision {before or 'none'} to {after}")


@admin_token_app.command("reset")
def admin_token_reset(
    data_dir: Annotated[Path, typer.Option(help="The fleet's data directory.")],
    store: Annotated[
        str, typer.Option(help="The fleet's store if not SQLite in the data dir (postgresql://).")
    ] = "",
) -> None:
    """Mint a new admin token (printed once) and revoke the previous bootstrap one.

    For a lost or leaked first token; run as the user that owns the data directory. Works
    while the fleet is serving.
    """
    try:
        text = asyncio.run(reset_admin_token(data_dir, store))
    except FleetError as err:
        fail(err, USAGE)
    typer.echo(f"New admin token (shown once, stored only hashed):\n  {text}")


if __name__ == "__main__":
    app()

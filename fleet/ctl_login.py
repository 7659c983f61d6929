"""`okoctl login` and `okoctl context ...`: saved fleets to switch between, like kubectl.

`login` checks the address, CA and token against the fleet (a real call) before it
saves anything, so a context that exists is one that worked. Tokens are written to the
0600 config file only: no command prints one (`context list` shows the token's id).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from fleet.client import Connection
from fleet.ctl_context import (
    CONTEXT_NAME,
    ContextEntry,
    ContextError,
    Flags,
    OkoctlConfig,
    ca_fingerprint,
    config_path,
    load,
    read_token_file,
    save,
    token_id,
)
from fleet.ctl_output import Column, Ctl, cli_errors, listing
from fleet.exits import FAILURE
from proto.oko.v1 import admin_pb2

FLAGS_KEY = "okoctl.flags"
context_app = typer.Typer(
    help="Saved fleets (address, CA, token): list, switch, delete.", no_args_is_help=True
)


def register(root: typer.Typer) -> None:
    """Add `login` and the `context` command group to okoctl."""
    root.command("login")(login)
    root.add_typer(context_app, name="context")


def context_names(incomplete: str) -> list[str]:
    """Shell completion of context names (nothing if the config cannot be read)."""
    try:
        names = load(config_path()).contexts
    except ContextError:
        return []
    return [name for name in sorted(names) if name.startswith(incomplete)]


def _flags(ctx: typer.Context) -> Flags:
    flags = ctx.meta.get(FLAGS_KEY)
    return flags if isinstance(flags, Flags) else Flags()


def _read_ca(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ContextError(f"--ca-file {path}: {getattr(err, 'strerror', err)}") from err
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ContextError(f"--ca-file {path}: not a PEM certificate")
    return text


def _token(flags: Flags) -> str:
    if flags.token:
        return flags.token
    if flags.token_file:
        return read_token_file(flags.token_file)
    if sys.stdin.isatty():
        return str(typer.prompt("API token", hide_input=True)).strip()
    return sys.stdin.readline().strip()  # `okoctl login ... < token-file` or a pipe


@cli_errors
def login(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Option(
            help="Context name (default: the fleet address).", autocompletion=context_names
        ),
    ] = "",
) -> None:
    """Check the fleet address, CA and token, then save them as a context and use it.

    Give them with the global options: `okoctl login --fleet HOST:PORT --ca-file ca.pem`;
    the token comes from `--token`, `--token-file`, `OKO_TOKEN`, or is asked for (hidden
    input; read from standard input when that is not a terminal). The CA is copied into
    the context, so the file may move afterwards. Logging in again under the same name
    replaces the token (and keeps the saved fleet and CA unless given again).
    """
    flags = _flags(ctx)
    path = config_path()
    config = load(path)
    previous = config.contexts.get(name) if name else None
    fleet = flags.fleet or (previous.fleet if previous else "")
    if not fleet:
        raise ContextError("login needs the fleet address: --fleet HOST:PORT (or OKO_FLEET)")
    name = name or fleet
    if not _valid_name(name):
        raise ContextError(f"--name {name!r}: letters, digits and _.:@- only, at most 64")
    ca_pem = _read_ca(flags.ca_file) if flags.ca_file else (previous.ca_pem if previous else "")
    token = _token(flags)
    if not token:
        raise ContextError("login needs an API token (--token, --token-file or OKO_TOKEN)")
    connection = Connection(fleet, token, ca_pem=ca_pem.encode())
    with connection.open() as s:  # proves address, CA and token before anything is saved
        status = s.call(s.admin.GetStatus, admin_pb2.GetStatusRequest())
    contexts = {**config.contexts, name: ContextEntry(fleet=fleet, token=token, ca_pem=ca_pem)}
    save(path, OkoctlConfig(current_context=name, contexts=contexts))
    typer.echo(
        f"logged in to {fleet} (fleet {status.version}) with token {token_id(token)}; "
        f"context {name!r} saved in {path} and in use"
    )


def _valid_name(name: str) -> bool:
    return re.match(CONTEXT_NAME, name) is not None


@dataclass(frozen=True)
class ContextRow:
    """One context as `context list` shows it (never its token)."""

    name: str
    current: bool
    fleet: str
    token_id: str
    ca: str


CONTEXT_COLUMNS: tuple[Column[ContextRow], ...] = (
    Column("current", lambda c: "*" if c.current else ""),
    Column("name", lambda c: c.name),
    Column("fleet", lambda c: c.fleet),
    Column("token", lambda c: c.token_id),
    Column("ca", lambda c: c.ca),
)


@context_app.command("list")
@cli_errors
def context_list(ctx: typer.Context) -> None:
    """Saved contexts; the current one is marked `*`. Tokens show as their id only."""
    config = load(config_path())
    rows = [
        ContextRow(
            name=name,
            current=name == config.current_context,
            fleet=entry.fleet,
            token_id=token_id(entry.token),
            ca=ca_fingerprint(entry.ca_pem),
        )
        for name, entry in sorted(config.contexts.items())
    ]
    ctl: Ctl = ctx.obj
    listing(ctl, "context", rows, CONTEXT_COLUMNS, key=lambda c: c.name)


@context_app.command("use")
@cli_errors
def context_use(
    name: Annotated[str, typer.Argument(help="Context name.", autocompletion=context_names)],
) -> None:
    """Make NAME the context every later command uses."""
    path = config_path()
    config = load(path)
    if name not in config.contexts:
        known = ", ".join(sorted(config.contexts)) or "none; create one with `okoctl login`"
        raise ContextError(f"context {name!r} not found (known: {known})")
    save(path, config.model_copy(update={"current_context": name}))
    typer.echo(f"switched to context {name!r} ({config.contexts[name].fleet})")


@context_app.command("current")
@cli_errors
def context_current() -> None:
    """Print the current context's name (exit code 1 when none is set)."""
    name = load(config_path()).current_context
    if not name:
        typer.echo("error: no current context; `okoctl login` or `okoctl context use`", err=True)
        raise typer.Exit(FAILURE)
    typer.echo(name)


@context_app.command("delete")
@cli_errors
def context_delete(
    name: Annotated[str, typer.Argument(help="Context name.", autocompletion=context_names)],
) -> None:
    """Forget a context and its token (the token itself stays valid: revoke it on the fleet)."""
    path = config_path()
    config = load(path)
    if name not in config.contexts:
        raise ContextError(f"context {name!r} not found")
    contexts = {k: v for k, v in config.contexts.items() if k != name}
    current = "" if config.current_context == name else config.current_context
    save(path, OkoctlConfig(current_context=current, contexts=contexts))
    typer.echo(f"deleted context {name!r}" + ("; no context is current now" if not current else ""))

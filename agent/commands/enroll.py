"""`oko-agent enroll`: give this box its identity with the fleet (a thin layer)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agent.commands.exits import FAILURE, USAGE, fail
from agent.config.agent import DEFAULT_DATA_DIR, parse_endpoint
from agent.errors import EnrollError, OkoError
from agent.identity import AgentStore
from agent.uplink.enroll import enroll as enroll_box
from agent.uplink.enroll import parse_token
from proto.transport import DEFAULT_API_PORT


def _labels(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--label")
        out[key] = value
    return out


def enroll(
    fleet: Annotated[str, typer.Option(help="host:port of the fleet's API port.")],
    token: Annotated[str, typer.Option(help="Enrollment token from `okoctl token create`.")],
    ca_file: Annotated[
        Path | None,
        typer.Option(help="Fleet CA (PEM); default: learn it from the server, pinned by token."),
    ] = None,
    data_dir: Annotated[
        Path, typer.Option(help="Agent data directory (identity, config, spool).")
    ] = DEFAULT_DATA_DIR,
    name: Annotated[str, typer.Option(help="Device name; default: hostname.")] = "",
    label: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE label for the fleet (repeatable).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Enroll again although enrolled.")] = False,
) -> None:
    """Make a key pair, send a CSR with the token, store the device certificate."""
    console = Console()
    try:  # what was typed is checked before anything touches the disk or the network
        parse_token(token)
        parse_endpoint(fleet, default_port=DEFAULT_API_PORT)
    except (EnrollError, ValueError) as err:
        fail(err if isinstance(err, EnrollError) else f"--fleet: {err}", USAGE, "enroll failed")
    try:
        store = AgentStore(data_dir)
        before = store.identity()
        identity = enroll_box(
            store,
            fleet,
            token,
            ca_file=ca_file,
            device_name=name,
            labels=_labels(label or []),
            force=force,
        )
    except OkoError as err:
        fail(err, FAILURE, "enroll failed")
    expires = dt.datetime.fromtimestamp(identity.not_after, dt.UTC).date().isoformat()
    again = before is not None and before.device_id == identity.device_id
    console.print(
        ("re-enrolled (reissued: same device id) as " if again else "enrolled as ")
        + f"[bold]{identity.device_id}[/bold] (site {identity.site or '-'}); "
        f"agent endpoint {identity.agent_endpoint}; certificate valid until {expires}; "
        f"identity in {store.identity_dir}",
        highlight=False,
    )

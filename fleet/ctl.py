"""`okoctl`: the fleet admin CLI. Thin typer commands over `fleet.client`.

Global options (or env): --fleet/OKO_FLEET, --token/OKO_TOKEN, --ca-file/OKO_CA_FILE,
--json for machine-readable output; before or after the command. Every command maps a
failed call to one line `error: <STATUS>: <message>` and exit code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from fleet import (
    __version__,
    ctl_alerts,
    ctl_audit,
    ctl_certs,
    ctl_config,
    ctl_events,
    ctl_galleries,
    ctl_watchlists,
)
from fleet.auth import Role
from fleet.client import Connection, parse_duration
from fleet.ctl_output import Ctl, ago, cli_errors, fields, print_json, table, when
from proto.oko.v1 import admin_pb2

# The global options, which work before or after the command (`okoctl --json device list`
# and `okoctl device list --json` alike): those with a value, and the flags.
GLOBAL_VALUE_OPTIONS = ("--fleet", "--token", "--ca-file")
GLOBAL_FLAGS = ("--json",)


def hoist_global_options(args: list[str]) -> list[str]:
    """`args` with the global options moved in front of the command, order kept.

    Click parses a group's options only before its command's name; moving them there lets
    a user append `--json` or `--token T` to any command line. Nothing after `--` moves.
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name, has_value, _ = arg.partition("=")
        if name in GLOBAL_VALUE_OPTIONS and not has_value and i + 1 < len(args):
            front += args[i : i + 2]
            i += 2
            continue
        (front if name in GLOBAL_VALUE_OPTIONS or arg in GLOBAL_FLAGS else rest).append(arg)
        i += 1
    return front + rest


class _GlobalOptionsAnywhere(TyperGroup):
    """The root command group: takes the global options wherever they stand."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))


app = typer.Typer(
    cls=_GlobalOptionsAnywhere,
    help="Oko fleet admin CLI. Global options may come before or after the command.",
    no_args_is_help=True,
    add_completion=False,
)
token_app = typer.Typer(help="Enrollment and API tokens.", no_args_is_help=True)
device_app = typer.Typer(help="Enrolled edge boxes.", no_args_is_help=True)
camera_app = typer.Typer(help="Cameras as their boxes report them.", no_args_is_help=True)
webhook_app = typer.Typer(help="Webhook subscriptions.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(device_app, name="device")
app.add_typer(camera_app, name="camera")
app.add_typer(webhook_app, name="webhook")
app.add_typer(ctl_config.app, name="config")
app.add_typer(ctl_events.app, name="events")
ctl_events.add_webhook_commands(webhook_app)
ctl_watchlists.register(app)
ctl_galleries.register(app)
ctl_alerts.register(app)
ctl_audit.register(app)
ctl_certs.register(device_app)


@app.callback()
def _main(
    ctx: typer.Context,
    fleet: Annotated[str, typer.Option(envvar="OKO_FLEET", help="API HOST:PORT.")] = (
        "localhost:7440"
    ),
    token: Annotated[str, typer.Option(envvar="OKO_TOKEN", help="API token.")] = "",
    ca_file: Annotated[
        Path | None, typer.Option(envvar="OKO_CA_FILE", help="Fleet CA certificate (PEM).")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="JSON output for scripts.")] = False,
) -> None:
    """Manage an Oko fleet."""
    ctx.obj = Ctl(Connection(fleet, token, ca_file), json)


@app.command()
def version() -> None:
    """Print okoctl's version."""
    typer.echo(__version__)


# Tokens -----------------------------------------------------------------------------------
@token_app.command("create")
@cli_errors
def token_create(
    ctx: typer.Context,
    site: Annotated[str, typer.Option(help="Site the enrolled box will belong to.")],
    ttl: Annotated[str, typer.Option(help="Validity, e.g. 30m, 1h, 7d.")] = "1h",
    note: Annotated[str, typer.Option(help="Free text kept with the token.")] = "",
) -> None:
    """Mint a single-use enrollment token for one box."""
    ctl: Ctl = ctx.obj
    request = admin_pb2.CreateEnrollmentTokenRequest(
        site=site, ttl_seconds=parse_duration(ttl), note=note
    )
    with ctl.connection.open() as s:
        reply = s.call(s.admin.CreateEnrollmentToken, request)
    if ctl.json:
        print_json(reply)
        return
    typer.echo(reply.token)
    typer.echo(f"expires {when(reply.expires_at)}; CA sha256 {reply.ca_sha256}", err=True)


@token_app.command("create-api")
@cli_errors
def token_create_api(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Who or what uses the token.")],
    role: Annotated[str, typer.Option(help="viewer, operator or admin.")] = "viewer",
    ttl: Annotated[str, typer.Option(help="Validity (0 = no expiry).")] = "0",
) -> None:
    """Mint an API token (bearer) with a role."""
    ctl: Ctl = ctx.obj
    request = admin_pb2.CreateApiTokenRequest(
        name=name, role=admin_pb2.Role.Name(int(Role.parse(role))), ttl_seconds=parse_duration(ttl)
    )
    with ctl.connection.open() as s:
        reply = s.call(s.admin.CreateApiToken, request)
    if ctl.json:
        print_json(reply)
    else:
        typer.echo(reply.token)


@token_app.command("revoke")
@cli_errors
def token_revoke(
    ctx: typer.Context,
    token_id: str,
    reason: Annotated[str, typer.Option(help="Recorded in the audit log.")] = "revoked",
) -> None:
    """Revoke an API token: refused from now on; its open event streams end at once."""
    ctl: Ctl = ctx.obj
    request = admin_pb2.RevokeApiTokenRequest(token_id=token_id, reason=reason)
    with ctl.connection.open() as s:
        reply = s.call(s.admin.RevokeApiToken, request)
    if ctl.json:
        print_json(reply)
    else:
        typer.echo(
            f"{reply.token_id} ({reply.name}) revoked; {reply.streams_ended} stream(s) ended"
        )


@token_app.command("list")
@cli_errors
def token_list(ctx: typer.Context) -> None:
    """All tokens (never their secrets)."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        reply = s.call(s.admin.ListTokens, admin_pb2.ListTokensRequest())
    if ctl.json:
        print_json(list(reply.tokens))
        return
    rows = [
        (
            t.token_id,
            t.kind,
            t.name,
            Role(t.role).name.lower() if t.kind == "api" else "",
            t.site,
            when(t.expires_at) or "never",
            t.used_by_device or ("used" if t.used else ""),
        )
        for t in reply.tokens
    ]
    table("tokens", ("id", "kind", "name", "role", "site", "expires", "used by"), rows)


# Devices ----------------------------------------------------------------------------------
def _device_rows(devices: list[admin_pb2.Device]) -> list[tuple[Any, ...]]:
    return [
        (
            d.device_id,
            d.name,
            d.site,
            d.status,
            ago(d.last_seen),
            ctl_certs.cert_left(d),
            d.spool_depth,
            d.dropped_events,
            f"{d.desired_version}/{d.reported_version}",
            "DRIFT" if d.drift else "",
        )
        for d in devices
    ]


@device_app.command("list")
@cli_errors
def device_list(
    ctx: typer.Context, site: Annotated[str, typer.Option(help="Only this site.")] = ""
) -> None:
    """Boxes with health, last seen, certificate time left, spool depth and config drift.

    `cert left` is the time until the device certificate expires (boxes renew at about
    two thirds of it by themselves); EXPIRED means the box must be reissued
    (`okoctl device reissue`). With --json: `certificate_days_left` per device.
    """
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        reply = s.call(s.admin.ListDevices, admin_pb2.ListDevicesRequest(site=site))
    if ctl.json:
        print_json(list(reply.devices))
        return
    table(
        "devices",
        (
            "id",
            "name",
            "site",
            "status",
            "last seen",
            "cert left",
            "spool",
            "dropped",
            "config desired/reported",
            "drift",
        ),
        _device_rows(list(reply.devices)),
    )


@device_app.command("show")
@cli_errors
def device_show(ctx: typer.Context, device_id: str) -> None:
    """One box in detail, with its cameras."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        d = s.call(s.admin.GetDevice, admin_pb2.GetDeviceRequest(device_id=device_id))
    if ctl.json:
        print_json(d)
        return
    fields(
        d.device_id,
        [
            ("name", d.name),
            ("site", d.site),
            ("status", d.status),
            ("last seen", ago(d.last_seen)),
            ("agent", d.agent_version),
            ("hostname", d.hostname),
            ("certificate", ctl_certs.cert_detail(d)),
            ("spool depth", d.spool_depth),
            ("dropped events", d.dropped_events),
            ("cpu / memory", f"{d.cpu_percent:.0f}% / {d.memory_percent:.0f}%"),
            (
                "config",
                f"desired v{d.desired_version}, reported v{d.reported_version}"
                + (" (DRIFT)" if d.drift else ""),
            ),
            ("revoked", d.revoked_reason),
        ],
    )
    _camera_table(list(d.cameras))


@device_app.command("revoke")
@cli_errors
def device_revoke(
    ctx: typer.Context,
    device_id: str,
    reason: Annotated[str, typer.Option(help="Recorded in the audit log.")] = "revoked",
) -> None:
    """Revoke a box: its stream is cut at once and it is refused from now on."""
    ctl: Ctl = ctx.obj
    request = admin_pb2.RevokeDeviceRequest(device_id=device_id, reason=reason)
    with ctl.connection.open() as s:
        d = s.call(s.admin.RevokeDevice, request)
    if ctl.json:
        print_json(d)
    else:
        typer.echo(f"{d.device_id} revoked")


# Cameras ----------------------------------------------------------------------------------
def _camera_table(cameras: list[admin_pb2.CameraStatus]) -> None:
    rows = [
        (
            c.camera_id,
            c.device_id,
            c.site,
            "yes" if c.online else "no",
            f"{c.fps:.1f}",
            f"{c.inference_ms:.1f}",
            ago(c.last_event_at),
            c.error,
        )
        for c in cameras
    ]
    table(
        "cameras",
        ("camera", "device", "site", "online", "fps", "inference ms", "last event", "error"),
        rows,
    )


@camera_app.command("list")
@cli_errors
def camera_list(
    ctx: typer.Context,
    device: Annotated[str, typer.Option(help="Only this box.")] = "",
    site: Annotated[str, typer.Option(help="Only this site.")] = "",
) -> None:
    """Cameras with fps, inference time and last event."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        reply = s.call(
            s.admin.ListCameras, admin_pb2.ListCamerasRequest(device_id=device, site=site)
        )
    if ctl.json:
        print_json(list(reply.cameras))
    else:
        _camera_table(list(reply.cameras))


# Status -----------------------------------------------------------------------------------
@app.command()
@cli_errors
def status(ctx: typer.Context) -> None:
    """Server health: devices, events, ingest rate, subscribers."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        st = s.call(s.admin.GetStatus, admin_pb2.GetStatusRequest())
    if ctl.json:
        print_json(st)
        return
    fields(
        f"fleet {ctl.connection.address}",
        [
            ("version", st.version),
            ("up since", when(st.started_at)),
            ("store", st.store),
            ("devices", f"{st.devices} ({st.devices_online} online, {st.devices_revoked} revoked)"),
            ("events stored", st.events_stored),
            ("last cursor", st.last_cursor),
            ("ingest", f"{st.ingest_events_per_second:.1f} events/s (last minute)"),
            ("subscribers", st.subscribers),
            ("webhook dead letters", st.webhook_dead_letters),
        ],
    )


if __name__ == "__main__":
    app()

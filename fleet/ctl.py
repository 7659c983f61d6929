"""`okoctl`: the fleet admin CLI. Thin typer commands over `fleet.client`.

Global options (or env), before or after the command: --fleet/OKO_FLEET, --token/OKO_TOKEN,
--token-file/OKO_TOKEN_FILE, --ca-file/OKO_CA_FILE, --context/OKOCTL_CONTEXT (a context
saved by `okoctl login`, `fleet.ctl_context`), -o/--output table|wide|json|yaml|name and
--no-headers (`fleet.ctl_output`; --json = -o json). Every command maps a failed call to one
line `error: <STATUS>: <message>` and exit code 1, a bad option, file or context to exit 2.
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
    ctl_login,
    ctl_models,
    ctl_watchlists,
    ctl_webhooks,
)
from fleet.auth import Role
from fleet.client import parse_duration
from fleet.ctl_context import Flags, config_path, resolve
from fleet.ctl_output import (
    Column,
    Ctl,
    Output,
    ago,
    cli_errors,
    fields,
    listing,
    machine_output,
    print_json,
    use,
    when,
)
from proto.oko.v1 import admin_pb2

# The global options, which work before or after the command (`okoctl -o json device list`
# and `okoctl device list -o json` alike): those with a value, and the flags.
GLOBAL_VALUE_OPTIONS = (
    "--fleet",
    "--token",
    "--token-file",
    "--ca-file",
    "--context",
    "-o",
    "--output",
)
GLOBAL_FLAGS = ("--json", "--no-headers")


def _is_global(arg: str) -> bool:
    name = arg.partition("=")[0]
    attached_o = arg.startswith("-o") and not arg.startswith("--") and len(arg) > 2  # -ojson
    return name in GLOBAL_VALUE_OPTIONS or arg in GLOBAL_FLAGS or attached_o


def hoist_global_options(args: list[str]) -> list[str]:
    """`args` with the global options moved in front of the command, order kept.

    Click parses a group's options only before its command's name; moving them there lets
    a user append `-o json` or `--token T` to any command line. Nothing after `--` moves.
    Subcommands therefore never define `-o` or these names themselves.
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg in GLOBAL_VALUE_OPTIONS and i + 1 < len(args):
            front += args[i : i + 2]
            i += 2
            continue
        (front if _is_global(arg) else rest).append(arg)
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
)
token_app = typer.Typer(help="Enrollment and API tokens.", no_args_is_help=True)
device_app = typer.Typer(help="Enrolled edge boxes.", no_args_is_help=True)
camera_app = typer.Typer(help="Cameras as their boxes report them.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(device_app, name="device")
app.add_typer(camera_app, name="camera")
app.add_typer(ctl_config.app, name="config")
app.add_typer(ctl_events.app, name="events")
ctl_webhooks.register(app)
ctl_watchlists.register(app)
ctl_alerts.register(app)
ctl_audit.register(app)
ctl_models.register(app)
ctl_login.register(app)
ctl_certs.register(device_app)


@app.callback()
def _main(
    ctx: typer.Context,
    fleet: Annotated[
        str | None,
        typer.Option(
            envvar="OKO_FLEET", help="API HOST:PORT (default: the context's, else localhost:7440)."
        ),
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="OKO_TOKEN", help="API token (default: the context's).")
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(envvar="OKO_TOKEN_FILE", help="Read the API token from this 0600 file."),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            envvar="OKO_CA_FILE", help="Fleet CA certificate, PEM (default: the context's)."
        ),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(
            envvar="OKOCTL_CONTEXT",
            help="Saved context to use (default: the current one; see okoctl login).",
            autocompletion=ctl_login.context_names,
        ),
    ] = None,
    output: Annotated[
        Output, typer.Option("-o", "--output", help="Output format.", case_sensitive=False)
    ] = Output.TABLE,
    json: Annotated[bool, typer.Option("--json", help="Same as -o json.")] = False,
    no_headers: Annotated[
        bool, typer.Option("--no-headers", help="Tables without their header line.")
    ] = False,
) -> None:
    """Manage an Oko fleet. Contexts: `okoctl login`; formats: `-o`; completion below."""
    flags = Flags(fleet, token, token_file, ca_file, context)
    ctx.meta[ctl_login.FLAGS_KEY] = flags
    chosen = Output.JSON if json else output
    ctx.obj = use(Ctl(lambda: resolve(flags, config_path()), chosen, no_headers))


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


TOKEN_COLUMNS: tuple[Column[admin_pb2.TokenInfo], ...] = (
    Column("id", lambda t: t.token_id),
    Column("kind", lambda t: t.kind),
    Column("name", lambda t: t.name),
    Column("role", lambda t: Role(t.role).name.lower() if t.kind == "api" else ""),
    Column("site", lambda t: t.site),
    Column("expires", lambda t: when(t.expires_at) or "never"),
    Column("used by", lambda t: t.used_by_device or ("used" if t.used else "")),
    Column("created", lambda t: when(t.created_at), wide=True),
)


@token_app.command("list")
@cli_errors
def token_list(ctx: typer.Context) -> None:
    """All tokens (never their secrets)."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        reply = s.call(s.admin.ListTokens, admin_pb2.ListTokensRequest())
    listing(ctl, "token", reply.tokens, TOKEN_COLUMNS)


# Devices ----------------------------------------------------------------------------------
# Other areas add their columns here (one `Column` each; `wide=True` for -o wide only).
DEVICE_COLUMNS: tuple[Column[admin_pb2.Device], ...] = (
    Column("id", lambda d: d.device_id),
    Column("name", lambda d: d.name),
    Column("site", lambda d: d.site),
    Column("status", lambda d: d.status),
    Column("last seen", lambda d: ago(d.last_seen)),
    Column("cert left", ctl_certs.cert_left),
    Column("spool", lambda d: d.spool_depth),
    Column("dropped", lambda d: d.dropped_events),
    Column("config desired/reported", lambda d: f"{d.desired_version}/{d.reported_version}"),
    Column("drift", lambda d: "DRIFT" if d.drift else ""),
    Column("agent", lambda d: d.agent_version, wide=True),
    Column("hostname", lambda d: d.hostname, wide=True),
    Column("cpu", lambda d: f"{d.cpu_percent:.0f}%", wide=True),
    Column("memory", lambda d: f"{d.memory_percent:.0f}%", wide=True),
    Column("cameras", lambda d: len(d.cameras), wide=True),
)


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
    listing(ctl, "device", reply.devices, DEVICE_COLUMNS)


@device_app.command("show")
@cli_errors
def device_show(ctx: typer.Context, device_id: str) -> None:
    """One box in detail, with its cameras."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        d = s.call(s.admin.GetDevice, admin_pb2.GetDeviceRequest(device_id=device_id))
    if machine_output(ctl, d, "device", d.device_id):
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
    listing(ctl, "camera", d.cameras, CAMERA_COLUMNS, key=_camera_key)


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
CAMERA_COLUMNS: tuple[Column[admin_pb2.CameraStatus], ...] = (
    Column("camera", lambda c: c.camera_id),
    Column("device", lambda c: c.device_id),
    Column("site", lambda c: c.site),
    Column("online", lambda c: "yes" if c.online else "no"),
    Column("fps", lambda c: f"{c.fps:.1f}"),
    Column("inference ms", lambda c: f"{c.inference_ms:.1f}"),
    Column("last event", lambda c: ago(c.last_event_at)),
    Column("error", lambda c: c.error),
    Column("last frame", lambda c: ago(c.last_frame_at), wide=True),
)


def _camera_key(c: admin_pb2.CameraStatus) -> str:
    return f"{c.device_id}/{c.camera_id}"  # camera ids are only unique per box


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
    listing(ctl, "camera", reply.cameras, CAMERA_COLUMNS, key=_camera_key)


# Status -----------------------------------------------------------------------------------
@app.command()
@cli_errors
def status(ctx: typer.Context) -> None:
    """Server health: devices, events, ingest rate, subscribers."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        st = s.call(s.admin.GetStatus, admin_pb2.GetStatusRequest())
    if machine_output(ctl, st, "fleet", ctl.connection.address):
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

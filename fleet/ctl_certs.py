"""`okoctl device reissue` and how okoctl shows a device's certificate lifetime.

Renewal itself needs no operator: boxes renew on their own (docs/operations.md,
"Certificate renewal"). `reissue` is the way back for a box whose certificate expired
while it was offline, or whose key was lost: a one-time token bound to the device.
"""

from __future__ import annotations

from typing import Annotated

import typer

from fleet.client import parse_duration
from fleet.ctl_output import Ctl, cli_errors, print_json, when
from proto.oko.v1 import admin_pb2, certs_pb2

_UNITS = (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1))


def _span(seconds: float) -> str:
    """Coarsest unit first: 243d, 5h, 12m, 40s."""
    whole = int(seconds)
    for unit, size in _UNITS:
        if whole >= size:
            return f"{whole // size}{unit}"
    return "0s"


def cert_left(device: admin_pb2.Device) -> str:
    """Time until the device's certificate expires, or how long ago it did ("EXPIRED 3d")."""
    if not device.certificate_not_after.seconds:
        return "?"
    seconds = device.certificate_days_left * 86_400
    if seconds <= 0:
        return f"EXPIRED {_span(-seconds)}"
    return _span(seconds)


def cert_detail(device: admin_pb2.Device) -> str:
    """One line for `device show`: serial, expiry, renewals and a pending renewal."""
    text = (
        f"{device.certificate_serial} until {when(device.certificate_not_after)} "
        f"({cert_left(device)} left)"
        if device.certificate_days_left > 0
        else f"{device.certificate_serial} {cert_left(device)} ago"
    )
    if device.certificate_renewals:
        text += (
            f"; renewed {device.certificate_renewals}x, last {when(device.certificate_renewed_at)}"
        )
    if device.certificate_pending_serial:
        text += f"; renewed to {device.certificate_pending_serial}, not used by the box yet"
    return text


def register(device_app: typer.Typer) -> None:
    """Add `reissue` to okoctl's `device` group."""
    device_app.command("reissue")(device_reissue)


@cli_errors
def device_reissue(
    ctx: typer.Context,
    device_id: Annotated[str, typer.Argument(help="The device, as `okoctl device list` names it.")],
    ttl: Annotated[str, typer.Option(help="Token validity, e.g. 30m, 1h, 7d.")] = "1h",
    note: Annotated[str, typer.Option(help="Kept with the token and in the audit log.")] = "",
) -> None:
    """Mint a one-time token that gives an existing box a new certificate, same device id.

    For a box whose certificate expired while it was offline (it cannot renew any more)
    or whose key was lost. On the box: `oko-agent enroll --force --fleet HOST:PORT --token
    TOKEN`; a running agent picks the new identity up by itself. The device keeps its id,
    site, labels and desired state; its older certificates stop working as soon as the
    token is used. Revoked devices cannot be reissued.
    """
    ctl: Ctl = ctx.obj
    request = certs_pb2.ReissueDeviceRequest(
        device_id=device_id, ttl_seconds=parse_duration(ttl), note=note
    )
    with ctl.connection.open() as s:
        reply = s.call(s.certs.ReissueDevice, request)
    if ctl.json:
        print_json(reply)
        return
    typer.echo(reply.token)
    typer.echo(
        f"for {reply.device_id}, expires {when(reply.expires_at)}; CA sha256 {reply.ca_sha256}\n"
        f"on the box: oko-agent enroll --force --fleet {ctl.connection.address} "
        "--token <the token above>",
        err=True,
    )

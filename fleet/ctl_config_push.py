"""`okoctl config set --selector`: one document to every box a label selector matches.

A thin layer over AdminService.SetConfigs (fleet/config_push.py): one call, whatever the
number of boxes. Per-device outcomes go to stdout (one line each, or JSON), the progress
line and the summary to stderr, so `... | grep REFUSED` sees only the devices.
"""

from __future__ import annotations

import time

import typer

from fleet.ctl_output import Ctl, print_json, printable
from fleet.exits import FAILURE
from proto.oko.v1 import admin_pb2

#: A push to thousands of boxes is one call that stores them all: more than a lookup's time.
PUSH_DEADLINE_S = 120.0


def _line(result: admin_pb2.DeviceConfigResult, dry_run: bool) -> str:
    if result.error:
        return f"{result.device_id}: REFUSED {printable(result.error)}"
    if result.unchanged:
        return f"{result.device_id}: unchanged (version {result.version})"
    if dry_run:
        return f"{result.device_id}: valid; would be version {result.version}"
    sent = "sent" if result.delivered else "stored; sent when it connects (or by its replica)"
    return f"{result.device_id}: version {result.version} ({sent})"


def summary(reply: admin_pb2.SetConfigsResponse, dry_run: bool, seconds: float) -> str:
    """One line: how many matched, changed, were unchanged, failed, and were sent at once."""
    verb = "would change" if dry_run else "changed"
    text = (
        f"{reply.selector}: {reply.matched} matched, {reply.changed} {verb},"
        f" {reply.unchanged} unchanged, {reply.failed} refused"
    )
    if not dry_run:
        text += f", {reply.delivered} sent at once by this replica"
    return f"{text} ({seconds:.1f} s; document sha256 {reply.sha256[:12]})"


def set_many(ctl: Ctl, selector: str, camera: str, document: str, dry_run: bool) -> None:
    """Push `document` to the boxes `selector` matches; exit 1 if any device was refused."""
    request = admin_pb2.SetConfigsRequest(
        selector=selector, camera_id=camera, document=document, dry_run=dry_run
    )
    typer.echo(
        f"{'checking' if dry_run else 'pushing'} {'camera ' + camera if camera else 'box'}"
        f" document for every device matching {selector!r}...",
        err=True,
    )
    started = time.monotonic()
    with ctl.connection.open() as s:
        reply = s.call(s.admin.SetConfigs, request, timeout=PUSH_DEADLINE_S)
    if ctl.json:
        print_json(reply)
    else:
        for result in reply.devices:
            typer.echo(_line(result, dry_run))
    typer.echo(summary(reply, dry_run, time.monotonic() - started), err=True)
    if reply.failed:
        raise typer.Exit(FAILURE)

"""`okoctl events` (live tail, query) and `okoctl webhook`."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Annotated, Any

import typer
from google.protobuf.timestamp_pb2 import Timestamp

from fleet.client import parse_duration
from fleet.ctl_output import Ctl, cli_errors, clock, print_json, printable, table, to_dict
from proto.oko.v1 import admin_pb2, stream_pb2

app = typer.Typer(help="Events: live tail and queries.", no_args_is_help=True)

Cameras = Annotated[list[str] | None, typer.Option("--camera", help="Camera id (repeatable).")]
Sites = Annotated[list[str] | None, typer.Option("--site", help="Site (repeatable).")]
Types = Annotated[list[str] | None, typer.Option("--type", help="e.g. face, zone (repeatable).")]
Devices = Annotated[list[str] | None, typer.Option("--device", help="Device id (repeatable).")]


def _filter(
    cameras: list[str] | None,
    sites: list[str] | None,
    types: list[str] | None,
    devices: list[str] | None,
) -> stream_pb2.EventFilter:
    return stream_pb2.EventFilter(
        camera_ids=cameras or [], sites=sites or [], types=types or [], device_ids=devices or []
    )


def _line(env: stream_pb2.EventEnvelope) -> str:
    e = env.event
    kind = e.WhichOneof("body") or "?"
    detail = to_dict(getattr(e, kind)) if kind != "face" else {"quality": round(e.face.quality, 2)}
    stamp = clock(e.capture_time.seconds)
    return printable(
        f"{env.cursor:>8} {stamp} {e.site}/{e.device_id}/{e.camera_id} {kind} "
        f"{json.dumps(detail, separators=(',', ':'))}"
    )


def _emit(ctl: Ctl, env: stream_pb2.EventEnvelope) -> None:
    if ctl.json:
        print(json.dumps(to_dict(env), separators=(",", ":")), flush=True)  # NDJSON
    else:
        typer.echo(_line(env))


@app.command("tail")
@cli_errors
def tail(
    ctx: typer.Context,
    *,
    camera: Cameras = None,
    site: Sites = None,
    type_: Types = None,
    device: Devices = None,
    resume: Annotated[int, typer.Option(help="Continue after this cursor.")] = 0,
    from_start: Annotated[bool, typer.Option(help="Replay everything stored first.")] = False,
    count: Annotated[int, typer.Option(help="Stop after this many events (0 = never).")] = 0,
) -> None:
    """Follow live events. Without --resume/--from-start, starts at the current end."""
    ctl: Ctl = ctx.obj
    request = stream_pb2.SubscribeRequest(
        filter=_filter(camera, site, type_, device),
        resume_cursor=resume,
        from_now=not (resume or from_start),
    )
    seen = 0
    with ctl.connection.open() as s:
        for env in s.stream(s.events.Subscribe, request):
            _emit(ctl, env)
            seen += 1
            if count and seen >= count:
                return


def _stamp(text: str) -> Timestamp | None:
    """'1h' (ago), an ISO time, or '' (no bound)."""
    if not text:
        return None
    stamp = Timestamp()
    try:
        seconds = parse_duration(text)
        stamp.FromSeconds(int(time.time()) - seconds)
    except ValueError:
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError as err:
            raise ValueError(f"{text!r} is neither a duration (1h) nor an ISO time") from err
        stamp.FromDatetime(moment if moment.tzinfo else moment.astimezone())
    return stamp


@app.command("query")
@cli_errors
def query(
    ctx: typer.Context,
    *,
    camera: Cameras = None,
    site: Sites = None,
    type_: Types = None,
    device: Devices = None,
    since: Annotated[str, typer.Option(help="Capture time from: '1h' ago or ISO time.")] = "",
    until: Annotated[str, typer.Option(help="Capture time before: duration ago or ISO.")] = "",
    limit: Annotated[int, typer.Option(help="At most this many events.")] = 100,
) -> None:
    """Stored events by time, camera, site, type and device (paged under the hood)."""
    ctl: Ctl = ctx.obj
    after = 0
    got: list[stream_pb2.EventEnvelope] = []
    with ctl.connection.open() as s:
        while len(got) < limit:
            request = stream_pb2.QueryRequest(
                filter=_filter(camera, site, type_, device),
                start_time=_stamp(since),
                end_time=_stamp(until),
                after_cursor=after,
                limit=min(1000, limit - len(got)),
            )
            reply = s.call(s.events.Query, request)
            got.extend(reply.events)
            if not reply.next_cursor:
                break
            after = reply.next_cursor
    if ctl.json:
        print_json(got)
    else:
        for env in got:
            typer.echo(_line(env))


def add_webhook_commands(webhook_app: typer.Typer) -> None:
    """`okoctl webhook create/list/delete` (kept here: they share the event filter options)."""

    @webhook_app.command("create")
    @cli_errors
    def create(
        ctx: typer.Context,
        url: str,
        *,
        camera: Cameras = None,
        site: Sites = None,
        type_: Types = None,
        device: Devices = None,
        secret: Annotated[str, typer.Option(help="HMAC key; default random.")] = "",
    ) -> None:
        """POST matching events to URL, signed with HMAC-SHA256."""
        ctl: Ctl = ctx.obj
        f = _filter(camera, site, type_, device)
        request = admin_pb2.CreateWebhookRequest(
            url=url,
            camera_ids=f.camera_ids,
            sites=f.sites,
            types=f.types,
            device_ids=f.device_ids,
            secret=secret,
        )
        with ctl.connection.open() as s:
            hook = s.call(s.admin.CreateWebhook, request)
        if ctl.json:
            print_json(hook)
        else:
            typer.echo(f"{hook.webhook_id} secret={hook.secret}")

    @webhook_app.command("list")
    @cli_errors
    def list_(ctx: typer.Context) -> None:
        """Webhooks with delivery counters and dead letters."""
        ctl: Ctl = ctx.obj
        with ctl.connection.open() as s:
            reply = s.call(s.admin.ListWebhooks, admin_pb2.ListWebhooksRequest())
        if ctl.json:
            print_json(list(reply.webhooks))
            return
        rows: list[tuple[Any, ...]] = [
            (h.webhook_id, h.url, h.delivered, h.failed_attempts, h.dead_letters, h.cursor)
            for h in reply.webhooks
        ]
        table("webhooks", ("id", "url", "delivered", "failed", "dead letters", "cursor"), rows)

    @webhook_app.command("delete")
    @cli_errors
    def delete(ctx: typer.Context, webhook_id: str) -> None:
        """Stop and remove a webhook."""
        ctl: Ctl = ctx.obj
        with ctl.connection.open() as s:
            s.call(s.admin.DeleteWebhook, admin_pb2.DeleteWebhookRequest(webhook_id=webhook_id))
        typer.echo(f"{webhook_id} deleted")

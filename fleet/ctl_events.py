"""`okoctl events tail` (live, resuming by itself) and `okoctl events query` (stored).

Both print one event per line in the words the demo uses (`proto.event_text.describe`),
or the envelopes themselves with `-o json` (NDJSON for `tail`) / `-o yaml`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from fleet.ctl_output import Column, Ctl, Stream, cli_errors, listing, when
from fleet.ctl_time import parse_moment
from fleet.tail import follow, start_cursor
from proto.event_text import describe
from proto.oko.v1 import stream_pb2

app = typer.Typer(help="Events: live tail and queries.", no_args_is_help=True)

Cameras = Annotated[list[str] | None, typer.Option("--camera", help="Camera id (repeatable).")]
Sites = Annotated[list[str] | None, typer.Option("--site", help="Site (repeatable).")]
Types = Annotated[list[str] | None, typer.Option("--type", help="e.g. face, zone (repeatable).")]
Devices = Annotated[list[str] | None, typer.Option("--device", help="Device id (repeatable).")]
MAX_PAGE = 1000
Envelope = stream_pb2.EventEnvelope


def event_filter(
    cameras: list[str] | None,
    sites: list[str] | None,
    types: list[str] | None,
    devices: list[str] | None,
) -> stream_pb2.EventFilter:
    """The filter the repeatable --camera/--site/--type/--device options describe."""
    return stream_pb2.EventFilter(
        camera_ids=cameras or [], sites=sites or [], types=types or [], device_ids=devices or []
    )


EVENT_COLUMNS: tuple[Column[Envelope], ...] = (
    Column("cursor", lambda e: e.cursor, width=7),
    Column("time", lambda e: when(e.event.capture_time), width=19),
    Column("site", lambda e: e.event.site, width=8),
    Column("camera", lambda e: e.event.camera_id, width=10),
    Column("type", lambda e: describe(e.event)[0], width=13),
    Column("what", lambda e: describe(e.event)[1]),
    Column("device", lambda e: e.event.device_id, wide=True),
    Column("track", lambda e: e.event.track_id, wide=True),
    Column("event id", lambda e: e.event.event_id, wide=True),
    Column("received", lambda e: when(e.received_at), wide=True),
)


def _event_id(envelope: Envelope) -> str:
    return envelope.event.event_id


def _notice(text: str) -> None:
    typer.echo(f"okoctl: {text}", err=True)


@app.command("tail")
@cli_errors
def tail(
    ctx: typer.Context,
    *,
    camera: Cameras = None,
    site: Sites = None,
    type_: Types = None,
    device: Devices = None,
    resume: Annotated[int, typer.Option(help="Continue after this cursor.", min=0)] = 0,
    from_start: Annotated[bool, typer.Option(help="Replay everything stored first.")] = False,
    count: Annotated[int, typer.Option(help="Stop after this many events (0 = never).", min=0)] = 0,
) -> None:
    """Follow live events; survives fleet restarts and network cuts by itself.

    Without --resume/--from-start it starts at the fleet's newest event. When the stream
    is lost it retries with backoff (0.5 s doubling to 30 s) and resumes after the last
    event it printed: across a restart nothing is missed and nothing printed twice.
    Reconnects are reported on stderr; a refused token or filter ends it (exit code 1).
    """
    ctl: Ctl = ctx.obj
    flt = event_filter(camera, site, type_, device)
    after = resume if (resume or from_start) else start_cursor(ctl.connection)
    out = Stream(ctl, "event", EVENT_COLUMNS, key=_event_id)
    seen = 0
    try:
        for envelope in follow(ctl.connection, flt, after, notice=_notice):
            out.emit(envelope)
            seen += 1
            if count and seen >= count:
                return
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _pages(
    ctl: Ctl, request: stream_pb2.QueryRequest, limit: int
) -> list[stream_pb2.EventEnvelope]:
    got: list[stream_pb2.EventEnvelope] = []
    with ctl.connection.open() as s:
        while len(got) < limit:
            request.limit = min(MAX_PAGE, limit - len(got))
            reply = s.call(s.events.Query, request)
            got.extend(reply.events)
            if not reply.next_cursor:
                break
            if request.newest_first:
                request.before_cursor = reply.next_cursor
            else:
                request.after_cursor = reply.next_cursor
    return got


@app.command("query")
@cli_errors
def query(
    ctx: typer.Context,
    *,
    camera: Cameras = None,
    site: Sites = None,
    type_: Types = None,
    device: Devices = None,
    since: Annotated[
        str, typer.Option(help="Captured at or after: 15m / 2h / 7d ago, or RFC 3339.")
    ] = "",
    until: Annotated[str, typer.Option(help="Captured before: 15m / 2h ago, or RFC 3339.")] = "",
    limit: Annotated[int, typer.Option(help="At most this many events.", min=1)] = 100,
    oldest_first: Annotated[
        bool, typer.Option(help="Oldest first (default: newest first).")
    ] = False,
) -> None:
    """Stored events, newest first, by time, camera, site, type and device.

    `--since 2h --until 1h` is the hour before the last one; `--since
    2026-05-01T08:00:00Z` an RFC 3339 time (no offset: local time). Paged under the hood.
    """
    ctl: Ctl = ctx.obj
    start = parse_moment(since, "--since")
    end = parse_moment(until, "--until")
    if start is not None and end is not None and start.ToNanoseconds() >= end.ToNanoseconds():
        raise ValueError(f"--since {since!r} is not before --until {until!r}")
    request = stream_pb2.QueryRequest(
        filter=event_filter(camera, site, type_, device),
        start_time=start,
        end_time=end,
        newest_first=not oldest_first,
    )
    listing(ctl, "event", _pages(ctl, request, limit), EVENT_COLUMNS, key=_event_id)

"""`okoctl watchlist ...` and `okoctl subject ...`: who the fleet looks for, and why.

Subjects are enrolled from photos sent to the fleet, which runs them through the boxes'
own face models; a refused photo comes back with the reason (no face, two faces, too
small, blurred, profile) and nothing is stored.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from google.protobuf.timestamp_pb2 import Timestamp

from fleet.client import parse_duration
from fleet.ctl_output import (
    Column,
    Ctl,
    cli_errors,
    fields,
    listing,
    machine_output,
    print_json,
    table,
    when,
)
from proto.oko.v1 import watchlists_pb2 as pb

watchlist_app = typer.Typer(help="Watchlists of subjects to recognise.", no_args_is_help=True)
subject_app = typer.Typer(
    help="Subjects on watchlists, enrolled from photos.", no_args_is_help=True
)
MAX_PHOTO_BYTES = 3 * 1024 * 1024


def register(app: typer.Typer) -> None:
    """Add the `watchlist` and `subject` command groups to okoctl."""
    app.add_typer(watchlist_app, name="watchlist")
    app.add_typer(subject_app, name="subject")


def _galleries(galleries: list[pb.Gallery]) -> str:
    return ", ".join(
        f"{g.embedder_name}@{g.embedder_version}: {g.templates}x{g.dimensions}" for g in galleries
    )


def parse_expiry(text: str) -> Timestamp | None:
    """'' (never), a duration from now ('30d') or an ISO date/time ('2027-06-30')."""
    if not text:
        return None
    stamp = Timestamp()
    try:
        stamp.FromSeconds(int(dt.datetime.now(dt.UTC).timestamp()) + parse_duration(text))
    except ValueError:
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError as err:
            raise ValueError(f"--expires {text!r}: give a date (2027-06-30) or 30d") from err
        stamp.FromDatetime(moment if moment.tzinfo else moment.astimezone())
    return stamp


def _show_watchlist(ctl: Ctl, w: pb.Watchlist) -> None:
    if machine_output(ctl, w, "watchlist", w.name):
        return
    fields(
        f"watchlist {w.name}",
        [
            ("site", w.site or "(every site)"),
            ("threshold", f"{w.threshold:.2f}"),
            ("top k", w.top_k),
            ("subjects", w.subjects),
            ("galleries", _galleries(list(w.galleries)) or "(none)"),
            ("description", w.description),
            ("created", f"{when(w.created_at)} by {w.created_by}"),
        ],
    )


@watchlist_app.command("create")
@cli_errors
def watchlist_create(
    ctx: typer.Context,
    name: str,
    *,
    site: Annotated[str, typer.Option(help="Only this site's faces ('' = every site).")] = "",
    threshold: Annotated[
        float, typer.Option(help="Cosine similarity a match needs (0 = fleet default).")
    ] = 0.0,
    top_k: Annotated[int, typer.Option(help="Most subjects alerted per face (0 = default).")] = 0,
    description: Annotated[str, typer.Option(help="What the list is for.")] = "",
) -> None:
    """Create an empty watchlist (admin)."""
    ctl: Ctl = ctx.obj
    request = pb.CreateWatchlistRequest(
        name=name, site=site, threshold=threshold, top_k=top_k, description=description
    )
    with ctl.connection.open() as s:
        _show_watchlist(ctl, s.call(s.watchlists.CreateWatchlist, request))


@watchlist_app.command("list")
@cli_errors
def watchlist_list(ctx: typer.Context) -> None:
    """Every watchlist with its subject count."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        reply = s.call(s.watchlists.ListWatchlists, pb.ListWatchlistsRequest())
    listing(ctl, "watchlist", reply.watchlists, WATCHLIST_COLUMNS)


WATCHLIST_COLUMNS: tuple[Column[pb.Watchlist], ...] = (
    Column("name", lambda w: w.name),
    Column("site", lambda w: w.site or "*"),
    Column("threshold", lambda w: f"{w.threshold:.2f}"),
    Column("top k", lambda w: w.top_k),
    Column("subjects", lambda w: w.subjects),
    Column("galleries", lambda w: _galleries(list(w.galleries))),
    Column("description", lambda w: w.description, wide=True),
    Column("created", lambda w: when(w.created_at), wide=True),
)


@watchlist_app.command("show")
@cli_errors
def watchlist_show(ctx: typer.Context, name: str) -> None:
    """One watchlist's settings and galleries."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        _show_watchlist(ctl, s.call(s.watchlists.GetWatchlist, pb.GetWatchlistRequest(name=name)))


@watchlist_app.command("delete")
@cli_errors
def watchlist_delete(ctx: typer.Context, name: str) -> None:
    """Delete a watchlist and its subjects (admin); its alerts are kept."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        reply = s.call(s.watchlists.DeleteWatchlist, pb.DeleteWatchlistRequest(name=name))
    if ctl.json:
        print_json(reply)
    else:
        typer.echo(f"deleted watchlist {reply.name}")


def _read_photos(paths: list[Path]) -> list[pb.Photo]:
    photos = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as err:
            raise ValueError(f"--photo {path}: {err.strerror}") from err
        if len(data) > MAX_PHOTO_BYTES:
            raise ValueError(f"--photo {path}: {len(data)} bytes, at most {MAX_PHOTO_BYTES}")
        photos.append(pb.Photo(filename=path.name, data=data))
    return photos


def _show_subject(ctl: Ctl, subject: pb.Subject) -> None:
    if machine_output(ctl, subject, "subject", subject.subject_id):
        return
    fields(
        f"subject {subject.subject_id}",
        [
            ("name", subject.name),
            ("watchlist", subject.watchlist),
            ("reason", subject.reason),
            ("expires", when(subject.expires_at) or "never"),
            ("galleries", _galleries(list(subject.galleries))),
            ("created", f"{when(subject.created_at)} by {subject.created_by}"),
        ],
    )
    rows = [
        (
            p.filename,
            f"{p.quality:.2f}",
            f"{p.face_width_px:.0f}",
            f"{p.sharpness:.2f}",
            f"{p.pose:.2f}",
        )
        for p in subject.photo_quality
    ]
    if rows:
        table("photos", ("file", "quality", "face px", "sharpness", "pose"), rows)


@subject_app.command("add")
@cli_errors
def subject_add(
    ctx: typer.Context,
    *,
    watchlist: Annotated[str, typer.Option(help="Watchlist name.")],
    name: Annotated[str, typer.Option(help="The person's name.")],
    photo: Annotated[list[Path], typer.Option(help="Enrolment photo, JPEG/PNG (repeatable).")],
    reason: Annotated[str, typer.Option(help="Why this person is on the list (audited).")],
    expires: Annotated[str, typer.Option(help="Stop matching at: 2027-06-30 or 30d.")] = "",
) -> None:
    """Enrol a subject from photos (operator); a refused photo says why."""
    ctl: Ctl = ctx.obj
    request = pb.AddSubjectRequest(
        watchlist=watchlist,
        name=name,
        reason=reason,
        expires_at=parse_expiry(expires),
        photos=_read_photos(photo),
    )
    with ctl.connection.open() as s:
        _show_subject(ctl, s.call(s.watchlists.AddSubject, request, timeout=120))


@subject_app.command("list")
@cli_errors
def subject_list(
    ctx: typer.Context,
    watchlist: Annotated[str, typer.Option(help="Only this watchlist.")] = "",
) -> None:
    """Subjects with their watchlist, expiry and templates."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        reply = s.call(s.watchlists.ListSubjects, pb.ListSubjectsRequest(watchlist=watchlist))
    listing(ctl, "subject", reply.subjects, SUBJECT_COLUMNS)


SUBJECT_COLUMNS: tuple[Column[pb.Subject], ...] = (
    Column("id", lambda x: x.subject_id),
    Column("watchlist", lambda x: x.watchlist),
    Column("name", lambda x: x.name),
    Column("expires", lambda x: when(x.expires_at) or "never"),
    Column("photos", lambda x: x.photos),
    Column("reason", lambda x: x.reason),
    Column("galleries", lambda x: _galleries(list(x.galleries)), wide=True),
    Column("created", lambda x: when(x.created_at), wide=True),
)


@subject_app.command("show")
@cli_errors
def subject_show(ctx: typer.Context, subject_id: str) -> None:
    """One subject with the measured quality of each enrolment photo."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        request = pb.GetSubjectRequest(subject_id=subject_id)
        _show_subject(ctl, s.call(s.watchlists.GetSubject, request))


@subject_app.command("remove")
@cli_errors
def subject_remove(ctx: typer.Context, subject_id: str) -> None:
    """Remove a subject (operator); it stops matching at once."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        request = pb.RemoveSubjectRequest(subject_id=subject_id)
        reply = s.call(s.watchlists.RemoveSubject, request)
    if ctl.json:
        print_json(reply)
    else:
        typer.echo(f"removed subject {reply.subject_id} ({reply.name})")

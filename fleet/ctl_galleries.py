"""`okoctl watchlist galleries` and `okoctl watchlist reembed`: galleries per embedder version.

A face is compared only with templates of the embedder version that made it, so before
boxes move to a new embedder its gallery is made from the stored enrolment photos.
"""

from __future__ import annotations

from typing import Annotated

import typer

from fleet.ctl_output import Ctl, cli_errors, print_json, printable, table
from fleet.ctl_watchlists import watchlist_app
from proto.oko.v1 import galleries_pb2 as pb


def register(app: typer.Typer) -> None:
    """Add `galleries` and `reembed` to the `watchlist` group (registered by ctl_watchlists)."""
    del app  # the commands hang off watchlist_app, which okoctl already has
    watchlist_app.command("galleries")(galleries)
    watchlist_app.command("reembed")(reembed)


@cli_errors
def galleries(ctx: typer.Context) -> None:
    """Galleries in use: one per embedder name@version, its size and how it is searched."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        reply = s.call(s.galleries.ListGalleries, pb.ListGalleriesRequest())
    if ctl.json:
        print_json(reply)
        return
    rows = [
        (f"{g.embedder_name}@{g.embedder_version}", g.templates, g.subjects, g.dimensions, g.search)
        for g in reply.galleries
    ]
    table("galleries", ("embedder", "templates", "subjects", "dims", "search"), rows)
    typer.echo(f"new subjects are enrolled with {printable(reply.enrolment_embedder)}")


def _line(p: pb.ReembedProgress) -> str:
    return (
        f"{p.done}/{p.photos} photos: {p.embedded} embedded, {p.skipped} skipped "
        f"(already done), {p.refused} refused"
    )


@cli_errors
def reembed(
    ctx: typer.Context,
    *,
    embedder: Annotated[
        str, typer.Option(help="NAME@VERSION of the new embedder, e.g. faceres@2.0.0.")
    ],
) -> None:
    """Make EMBEDDER's gallery from the stored enrolment photos (admin), with progress.

    Run it before boxes move to a new embedder version: their faces are matched only
    against templates of the version that made them. The fleet's model manifest
    (watchlists.models_manifest) must hold that version. Photos already embedded are
    skipped, so after an interruption run it again to finish. A refused photo is named;
    its subject keeps matching through its other photos, if any.
    """
    ctl: Ctl = ctx.obj
    last = pb.ReembedProgress()
    with ctl.connection.open() as s:
        for p in s.stream(s.galleries.Reembed, pb.ReembedRequest(embedder=embedder)):
            last = p
            if ctl.json:
                continue
            if p.refusal and p.refused:
                typer.echo(f"refused: {printable(p.refusal)}", err=True)
            if not p.finished:
                typer.echo(_line(p), err=True)
    if ctl.json:
        print_json(last)
        return
    typer.echo(f"{embedder}: {_line(last)}; gallery holds {last.templates} templates")

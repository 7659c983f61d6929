"""`okoctl webhook ...`: subscriptions, their dead letters, and replaying them.

A dead letter is an event a webhook gave up on after all its retries; its id is
`<webhook_id>:<cursor>`. `webhook failures` lists the pending ones (`--all`: also those
replayed or gone), `webhook replay ID...` / `--all` POSTs them again, once each, signed
like any delivery (docs/webhooks.md has the payload and signature format).
"""

from __future__ import annotations

from typing import Annotated

import typer

from fleet.ctl_events import Cameras, Devices, Sites, Types, event_filter
from fleet.ctl_output import Column, Ctl, cli_errors, listing, machine_output, when
from fleet.exits import FAILURE
from proto.oko.v1 import admin_pb2
from proto.oko.v1 import webhooks_pb2 as pb

app = typer.Typer(help="Webhook subscriptions and their dead letters.", no_args_is_help=True)
PAGE = 1000
REPLAY_TIMEOUT_S = 300.0  # a replay waits for the receivers (one timeout per webhook at worst)


def register(root: typer.Typer) -> None:
    """Add the `webhook` command group to okoctl."""
    root.add_typer(app, name="webhook")


@app.command("create")
@cli_errors
def create(
    ctx: typer.Context,
    url: str,
    *,
    camera: Cameras = None,
    site: Sites = None,
    type_: Types = None,
    device: Devices = None,
    secret: Annotated[str, typer.Option(help="Signing secret; default: a new whsec_... key.")] = "",
) -> None:
    """POST matching events to URL, signed the Standard Webhooks way (admin).

    Prints the webhook id and its secret, shown this once: give the secret to the
    receiver's verifier (any Standard Webhooks library takes `whsec_...` as it is).
    """
    ctl: Ctl = ctx.obj
    f = event_filter(camera, site, type_, device)
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
    if not machine_output(ctl, hook, "webhook", hook.webhook_id):
        typer.echo(f"{hook.webhook_id} secret={hook.secret}")


WEBHOOK_COLUMNS: tuple[Column[admin_pb2.Webhook], ...] = (
    Column("id", lambda h: h.webhook_id),
    Column("url", lambda h: h.url),
    Column("delivered", lambda h: h.delivered),
    Column("failed", lambda h: h.failed_attempts),
    Column("dead letters", lambda h: h.dead_letters),
    Column("cursor", lambda h: h.cursor),
    Column("types", lambda h: ",".join(h.types), wide=True),
    Column("cameras", lambda h: ",".join(h.camera_ids), wide=True),
    Column("sites", lambda h: ",".join(h.sites), wide=True),
)


@app.command("list")
@cli_errors
def list_(ctx: typer.Context) -> None:
    """Webhooks with delivery counters and dead letters (URLs masked below admin)."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        reply = s.call(s.admin.ListWebhooks, admin_pb2.ListWebhooksRequest())
    listing(ctl, "webhook", reply.webhooks, WEBHOOK_COLUMNS)


@app.command("delete")
@cli_errors
def delete(ctx: typer.Context, webhook_id: str) -> None:
    """Stop and remove a webhook (admin); its dead letters stay listed."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        s.call(s.admin.DeleteWebhook, admin_pb2.DeleteWebhookRequest(webhook_id=webhook_id))
    typer.echo(f"{webhook_id} deleted")


def _state(state: int) -> str:
    return pb.DeadLetter.State.Name(state).removeprefix("STATE_").lower()


DEAD_LETTER_COLUMNS: tuple[Column[pb.DeadLetter], ...] = (
    Column("id", lambda d: d.id),
    Column("state", lambda d: _state(d.state)),
    Column("failed", lambda d: when(d.failed_at)),
    Column("type", lambda d: d.event_type),
    Column("camera", lambda d: d.camera_id),
    Column("error", lambda d: d.last_replay_error or d.error),
    Column("replays", lambda d: d.replays),
    Column("event id", lambda d: d.event_id, wide=True),
    Column("device", lambda d: d.device_id, wide=True),
    Column("first error", lambda d: d.error, wide=True),
    Column("last replay", lambda d: when(d.last_replay_at), wide=True),
)


@app.command("failures")
@cli_errors
def failures(
    ctx: typer.Context,
    webhook: Annotated[str, typer.Option(help="Only this webhook's.")] = "",
    all_: Annotated[
        bool, typer.Option("--all", help="Also those replayed or whose event is gone.")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many.", min=1)] = 1000,
) -> None:
    """Dead letters: events a webhook gave up on, oldest first, pending ones by default."""
    ctl: Ctl = ctx.obj
    got: list[pb.DeadLetter] = []
    request = pb.ListDeadLettersRequest(webhook_id=webhook, include_done=all_)
    with ctl.connection.open() as s:
        while len(got) < limit:
            request.limit = min(PAGE, limit - len(got))
            reply = s.call(s.webhooks.ListDeadLetters, request)
            got += reply.dead_letters
            if not reply.next_after_id:
                break
            request.after_id = reply.next_after_id
    listing(ctl, "deadletter", got, DEAD_LETTER_COLUMNS, title="webhook dead letters")


def _outcome(result: pb.ReplayResult) -> str:
    return pb.ReplayResult.Outcome.Name(result.outcome).removeprefix("OUTCOME_").lower()


RESULT_COLUMNS: tuple[Column[pb.ReplayResult], ...] = (
    Column("id", lambda r: r.id),
    Column("outcome", _outcome),
    Column("error", lambda r: r.error),
)


def _replay_all(ctl: Ctl, webhook: str) -> list[pb.ReplayResult]:
    """Rounds of up to PAGE pending dead letters while rounds deliver something."""
    results: list[pb.ReplayResult] = []
    with ctl.connection.open() as s:
        while True:
            request = pb.ReplayDeadLettersRequest(all=True, webhook_id=webhook, limit=PAGE)
            reply = s.call(s.webhooks.ReplayDeadLetters, request, timeout=REPLAY_TIMEOUT_S)
            results += reply.results
            typer.echo(
                f"replayed {len(reply.results)}: {reply.delivered} delivered, "
                f"{reply.failed} failed" + (" (more pending)" if reply.more else ""),
                err=True,
            )
            if not (reply.more and reply.delivered):  # stop when a round makes no progress
                return results


@app.command("replay")
@cli_errors
def replay(
    ctx: typer.Context,
    ids: Annotated[
        list[str] | None, typer.Argument(help="Dead letter ids (from `webhook failures`).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every pending dead letter.")] = False,
    webhook: Annotated[str, typer.Option(help="With --all: only this webhook's.")] = "",
) -> None:
    """POST dead letters again, once each, signed like a normal delivery (admin).

    Exit code 1 if any could not be delivered (they stay pending: replay again later).
    """
    ctl: Ctl = ctx.obj
    if all_ == bool(ids):
        raise ValueError("give dead letter ids or --all (not both)")
    if ids and webhook:
        raise ValueError("--webhook only goes with --all")
    if all_:
        results = _replay_all(ctl, webhook)
    else:
        request = pb.ReplayDeadLettersRequest(ids=ids or [])
        with ctl.connection.open() as s:
            results = list(
                s.call(s.webhooks.ReplayDeadLetters, request, timeout=REPLAY_TIMEOUT_S).results
            )
    listing(ctl, "deadletter", results, RESULT_COLUMNS, title="replayed")
    bad = (pb.ReplayResult.OUTCOME_FAILED, pb.ReplayResult.OUTCOME_SKIPPED)
    if any(r.outcome in bad for r in results):
        raise typer.Exit(FAILURE)

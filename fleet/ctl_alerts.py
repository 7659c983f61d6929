"""`okoctl alert ...`: watchlist alerts and the two-operator decision on each.

A candidate alert is only a hint: it is confirmed when two different operators confirm
it, and rejected when one operator rejects it. Each decision is recorded with who and
when, audited, and streamed to subscribers as a `watchlist_alert` event.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from fleet.ctl_output import (
    Column,
    Ctl,
    cli_errors,
    fields,
    listing,
    machine_output,
    print_json,
    printable,
    table,
    to_dict,
    when,
)
from fleet.exits import FAILURE, fail
from proto.oko.v1 import watchlists_pb2 as pb

app = typer.Typer(help="Watchlist alerts: list, show, confirm, reject.", no_args_is_help=True)
STATES = {
    "candidate": pb.WatchlistAlert.STATE_CANDIDATE,
    "confirmed": pb.WatchlistAlert.STATE_CONFIRMED,
    "rejected": pb.WatchlistAlert.STATE_REJECTED,
}


def register(root: typer.Typer) -> None:
    """Add the `alert` command group to okoctl."""
    root.add_typer(app, name="alert")


def state_name(state: int) -> str:
    """'candidate', 'confirmed' or 'rejected'."""
    return pb.WatchlistAlert.State.Name(state).removeprefix("STATE_").lower()


def evidence_name(state: int) -> str:
    """'present', 'pending', 'unavailable' or 'none' (never requested)."""
    name = pb.EvidenceState.Name(state).removeprefix("EVIDENCE_STATE_").lower()
    return "none" if name == "unspecified" else name


def _evidence_line(alert: pb.WatchlistAlert) -> str:
    text = evidence_name(alert.evidence)
    if alert.evidence == pb.EVIDENCE_STATE_UNAVAILABLE:
        text += f": {printable(alert.evidence_reason)}"
    elif alert.evidence == pb.EVIDENCE_STATE_PENDING:
        text += " (asked the box; sent again whenever it reconnects)"
    return text


def _show(ctl: Ctl, alert: pb.WatchlistAlert) -> None:
    if machine_output(ctl, alert, "alert", alert.alert_id):
        return
    fields(
        f"alert {alert.alert_id}",
        [
            ("state", state_name(alert.state)),
            ("subject", f"{alert.subject_name} ({alert.subject_id})"),
            ("watchlist", alert.watchlist),
            ("score", f"{alert.score:.3f}"),
            ("where", f"{alert.site}/{alert.device_id}/{alert.camera_id} track {alert.track_id}"),
            ("raised", when(alert.raised_at)),
            ("face event", alert.face_event_id),
            ("evidence", _evidence_line(alert)),
            ("confirmations needed", alert.confirmations_needed),
        ],
    )
    rows = [
        (
            pb.AlertDecision.Kind.Name(d.kind).removeprefix("KIND_").lower(),
            d.actor,
            when(d.at),
            d.note,
        )
        for d in alert.decisions
    ]
    if rows:
        table("decisions", ("decision", "operator", "at", "note"), rows)


@app.command("list")
@cli_errors
def alert_list(
    ctx: typer.Context,
    state: Annotated[str, typer.Option(help="candidate, confirmed or rejected.")] = "",
    watchlist: Annotated[str, typer.Option(help="Only this watchlist.")] = "",
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
) -> None:
    """Alerts, newest first."""
    ctl: Ctl = ctx.obj
    if state and state not in STATES:
        raise ValueError(f"--state {state!r}: one of {', '.join(STATES)}")
    request = pb.ListAlertsRequest(
        state=STATES.get(state, pb.WatchlistAlert.STATE_UNSPECIFIED),
        watchlist=watchlist,
        limit=limit,
    )
    with ctl.connection.open() as s:
        reply = s.call(s.watchlists.ListAlerts, request)
    listing(ctl, "alert", reply.alerts, ALERT_COLUMNS)


ALERT_COLUMNS: tuple[Column[pb.WatchlistAlert], ...] = (
    Column("id", lambda a: a.alert_id),
    Column("state", lambda a: state_name(a.state)),
    Column("watchlist", lambda a: a.watchlist),
    Column("subject", lambda a: a.subject_name),
    Column("score", lambda a: f"{a.score:.3f}"),
    Column("camera", lambda a: f"{a.device_id}/{a.camera_id}"),
    Column("raised", lambda a: when(a.raised_at)),
    Column("site", lambda a: a.site, wide=True),
    Column("track", lambda a: a.track_id, wide=True),
    Column("face event", lambda a: a.face_event_id, wide=True),
    Column("decisions", lambda a: len(a.decisions), wide=True),
)


def save_image(evidence: pb.AlertEvidence, path: Path) -> None:
    """Write the JPEG readable by the caller only (it is a face: personal data)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(evidence.jpeg)
        os.replace(tmp, path)
    except OSError as err:
        raise ValueError(f"--image {path}: {err.strerror or err}") from err


def _fetch_image(ctl: Ctl, alert_id: str, path: Path) -> pb.AlertEvidence:
    with ctl.connection.open() as s:
        request = pb.GetAlertEvidenceRequest(alert_id=alert_id)
        evidence = s.call(s.watchlists.GetAlertEvidence, request)
    if evidence.state != pb.EVIDENCE_STATE_PRESENT:
        why = f": {printable(evidence.reason)}" if evidence.reason else ""
        state = evidence_name(evidence.state)
        fail(f"alert {alert_id} has no evidence image ({state}{why})", FAILURE)
    save_image(evidence, path)
    return evidence


@app.command("show")
@cli_errors
def alert_show(
    ctx: typer.Context,
    alert_id: str,
    image: Annotated[
        Path | None,
        typer.Option(
            help="Save the face image the box sent for this alert to this file (JPEG, "
            "mode 0600; audited). Fails when there is none (pending or unavailable)."
        ),
    ] = None,
) -> None:
    """One alert with its decisions and its evidence state (the view is audited)."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        alert = s.call(s.watchlists.GetAlert, pb.GetAlertRequest(alert_id=alert_id))
    if image is None:
        _show(ctl, alert)
        return
    evidence = _fetch_image(ctl, alert_id, image)
    if ctl.json:
        meta = to_dict(evidence)
        meta.pop("jpeg", None)
        print_json({"alert": to_dict(alert), "evidence": meta, "image": str(image)})
        return
    _show(ctl, alert)
    typer.echo(
        f"evidence image saved to {image} ({evidence.width}x{evidence.height}, "
        f"{len(evidence.jpeg)} bytes, sha256 {evidence.sha256})",
        err=True,
    )


def _decide(ctx: typer.Context, alert_id: str, kind: int, note: str) -> None:
    ctl: Ctl = ctx.obj
    request = pb.DecideAlertRequest(alert_id=alert_id, kind=kind, note=note)  # type: ignore[arg-type]
    with ctl.connection.open() as s:
        _show(ctl, s.call(s.watchlists.DecideAlert, request))


@app.command("confirm")
@cli_errors
def alert_confirm(
    ctx: typer.Context,
    alert_id: str,
    note: Annotated[str, typer.Option(help="Why (kept with the decision).")] = "",
) -> None:
    """Confirm an alert (operator); a second operator's confirmation makes it confirmed."""
    _decide(ctx, alert_id, pb.AlertDecision.KIND_CONFIRM, note)


@app.command("reject")
@cli_errors
def alert_reject(
    ctx: typer.Context,
    alert_id: str,
    note: Annotated[str, typer.Option(help="Why (kept with the decision).")] = "",
) -> None:
    """Reject an alert (operator): one rejection ends it."""
    _decide(ctx, alert_id, pb.AlertDecision.KIND_REJECT, note)

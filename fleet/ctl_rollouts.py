"""`okoctl rollout ...`: staged model rollouts with health gates and automatic rollback.

`create` validates everything on the fleet (the model, the selector, the steps) and
stores the rollout pending; the fleet's controller then runs it on its own: canary, steps,
gates, rollback. `watch` follows one until it ends and exits 0 only if it is done.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from fleet.client import parse_duration
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
    when,
)
from fleet.exits import FAILURE
from proto.oko.v1 import rollouts_pb2 as pb

app = typer.Typer(help="Staged model rollouts.", no_args_is_help=True)
TERMINAL = ("done", "aborted", "rolled_back")
_GATE_TYPES = {f.name: f for f in pb.GateSettings.DESCRIPTOR.fields}
MAX_SHOWN_BOXES = 40
ROLLOUT_COLUMNS: tuple[Column[pb.Rollout], ...] = (
    Column("id", lambda r: r.rollout_id),
    Column("model", lambda r: f"{r.model_name}@{r.model_version}"),
    Column("selector", lambda r: r.selector),
    Column("state", lambda r: r.state),
    Column("step", lambda r: _step_label(r)),  # noqa: PLW0108 (defined below)
    Column("updated", lambda r: f"{r.updated}/{r.boxes}"),
    Column("healthy", lambda r: r.healthy),
    Column("failed", lambda r: r.failed),
    Column("created", lambda r: when(r.created_at)),
    Column("created by", lambda r: r.created_by, wide=True),
    Column("reason", lambda r: r.reason),
)


def register(root: typer.Typer) -> None:
    """Add the `rollout` command group to okoctl."""
    root.add_typer(app, name="rollout")


def parse_percent(text: str, what: str) -> float:
    """'5%' or '5' -> 5.0; ValueError naming the option otherwise."""
    try:
        return float(text.strip().removesuffix("%"))
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a percentage like 5% or 2.5") from None


def parse_model(text: str) -> tuple[str, str]:
    """'NAME@VERSION' -> (name, version)."""
    name, at, version = text.partition("@")
    if not at or not name or not version:
        raise ValueError(f"--model: {text!r} is not NAME@VERSION (okoctl model list)")
    return name, version


def parse_gates(items: list[str]) -> pb.GateSettings:
    """`--gate key=value` options as GateSettings (the fleet checks the bounds)."""
    gates = pb.GateSettings()
    for item in items:
        key, eq, value = item.partition("=")
        field = _GATE_TYPES.get(key.strip())
        if not eq or field is None:
            known = ", ".join(sorted(_GATE_TYPES))
            raise ValueError(f"--gate {item!r}: expected KEY=VALUE with KEY one of {known}")
        try:
            number: float = float(value) if field.type == field.TYPE_FLOAT else int(value)
        except ValueError:
            raise ValueError(f"--gate {item!r}: {value!r} is not a number") from None
        setattr(gates, field.name, number)
    return gates


@app.command("create")
@cli_errors
def create(
    ctx: typer.Context,
    *,
    model: Annotated[str, typer.Option(help="NAME@VERSION of a registered model.")],
    selector: Annotated[
        str, typer.Option(help="Boxes covered: site=north,role=gate (labels), or * for all.")
    ],
    canary: Annotated[str, typer.Option(help="Share of boxes in the canary, (0, 50]%.")] = "5%",
    steps: Annotated[
        str, typer.Option(help="Cumulative shares after the canary, increasing, ending at 100.")
    ] = "25,50,100",
    interval: Annotated[
        str, typer.Option(help="Soak time of each step's boxes before the next step, e.g. 10m.")
    ] = "10m",
    max_failure: Annotated[
        str, typer.Option(help="Failed share of updated boxes that rolls everything back.")
    ] = "2%",
    baseline: Annotated[
        str, typer.Option(help="Pending this long first, sampling latency (e.g. 1m, 0).")
    ] = "1m",
    gate: Annotated[
        list[str] | None,
        typer.Option(help="A gate threshold KEY=VALUE (repeatable), e.g. max_ks=0.4."),
    ] = None,
    note: Annotated[str, typer.Option(help="Free text kept with the rollout.")] = "",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and show the batches; start nothing.")
    ] = False,
) -> None:
    """Start a staged rollout of a model to the selected boxes (operator)."""
    ctl: Ctl = ctx.obj
    name, version = parse_model(model)
    request = pb.CreateRolloutRequest(
        model_name=name,
        model_version=version,
        selector=selector,
        canary_percent=parse_percent(canary, "--canary"),
        steps=[parse_percent(s, "--steps") for s in steps.split(",")],
        interval_seconds=parse_duration(interval),
        max_failure_percent=parse_percent(max_failure, "--max-failure"),
        baseline_seconds=parse_duration(baseline),
        gates=parse_gates(gate or []),
        note=note,
        dry_run=dry_run,
    )
    with ctl.connection.open() as s:
        reply = s.call(s.rollouts.CreateRollout, request)
    if machine_output(ctl, reply, "rollout", reply.rollout_id):
        return
    _show(reply)
    if reply.dry_run:
        typer.echo("dry run: nothing was started", err=True)


@app.command("list")
@cli_errors
def list_(
    ctx: typer.Context,
    state: Annotated[str, typer.Option(help="Only this state (e.g. canary, rolled_back).")] = "",
    limit: Annotated[int, typer.Option(help="Newest this many.")] = 50,
) -> None:
    """Rollouts, newest first, with their progress."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        reply = s.call(s.rollouts.ListRollouts, pb.ListRolloutsRequest(state=state, limit=limit))
    listing(ctl, "rollout", reply.rollouts, ROLLOUT_COLUMNS)


@app.command("show")
@cli_errors
def show(ctx: typer.Context, rollout_id: str) -> None:
    """One rollout: its plan, per-step progress and every box's gates."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        reply = s.call(s.rollouts.GetRollout, pb.GetRolloutRequest(rollout_id=rollout_id))
    if not machine_output(ctl, reply, "rollout", reply.rollout_id):
        _show(reply)


def _step_label(r: pb.Rollout) -> str:
    if r.step < 0:
        return "-"
    return "canary" if r.step == 0 else f"{r.step}/{len(r.steps)}"


STEP_HEADERS = ("step", "share", "boxes", "updating", "healthy", "failed", "skipped", "")
BOX_HEADERS = ("device", "verdict", "model", "state", "gates", "reason")
_RANK = {"failed": 0, "updating": 1, "skipped": 2, "healthy": 3, "waiting": 4}


def _step_rows(r: pb.Rollout) -> list[tuple[str, ...]]:
    return [
        (
            p.name,
            f"{p.percent:g}%",
            str(p.boxes),
            str(p.updating),
            str(p.healthy),
            str(p.failed),
            str(p.skipped),
            "<- now" if p.current else "",
        )
        for p in r.progress
    ]


def _box_rows(r: pb.Rollout) -> list[tuple[str, ...]]:
    """Failed and updating boxes first; at most MAX_SHOWN_BOXES rows."""
    boxes = sorted(r.devices, key=lambda d: (_RANK.get(d.verdict, 5), d.position))
    return [
        (
            d.name or d.device_id,
            d.verdict,
            d.running_model,
            d.model_state,
            " ".join(f"{g.gate}:{g.verdict}" for g in d.gates),
            d.reason,
        )
        for d in boxes[:MAX_SHOWN_BOXES]
    ]


def _rich(title: str, headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    out = Table(title=title, title_justify="left")
    for header in headers:
        out.add_column(header)
    for row in rows:
        out.add_row(*(Text(printable(c)) for c in row))
    return out


def _summary(r: pb.Rollout) -> list[tuple[str, Any]]:
    return [
        ("model", f"{r.model_name}@{r.model_version}"),
        ("selector", r.selector),
        ("state", r.state + (f" ({r.reason})" if r.reason else "")),
        ("plan", f"canary {r.canary_percent:g}%, then " + ", ".join(f"{s:g}%" for s in r.steps)),
        ("interval", f"{r.interval_seconds:g} s per step, max failure {r.max_failure_percent:g}%"),
        ("boxes", f"{r.updated} of {r.boxes} updated, {r.healthy} healthy, {r.failed} failed"),
        ("given back", f"{r.given_back} ({r.back_on_previous} running their previous model)"),
        ("created", f"{when(r.created_at)} by {r.created_by}"),
        ("finished", when(r.finished_at)),
    ]


def _show(r: pb.Rollout) -> None:
    fields(f"rollout {r.rollout_id}", _summary(r))
    table("steps", STEP_HEADERS, _step_rows(r))
    if r.devices:
        table(f"boxes ({len(r.devices)})", BOX_HEADERS, _box_rows(r))
        if len(r.devices) > MAX_SHOWN_BOXES:
            typer.echo(f"{len(r.devices) - MAX_SHOWN_BOXES} more: okoctl rollout show -o json")


def _render(r: pb.Rollout) -> Group:
    head = Table.grid(padding=(0, 2))
    for name, value in _summary(r):
        head.add_row(Text(name, style="bold"), Text(printable(str(value))))
    return Group(
        head,
        _rich("steps", STEP_HEADERS, _step_rows(r)),
        _rich(f"boxes ({len(r.devices)})", BOX_HEADERS, _box_rows(r)),
    )


def _line(r: pb.Rollout) -> str:
    steps = "; ".join(
        f"{p.name} {p.healthy}/{p.boxes} healthy {p.failed} failed {p.updating} updating"
        for p in r.progress
        if p.boxes and (p.healthy or p.failed or p.updating or p.current)
    )
    return printable(f"{time.strftime('%H:%M:%S')} {r.state} | {steps} | {r.reason}")


@app.command("watch")
@cli_errors
def watch(
    ctx: typer.Context,
    rollout_id: str,
    every: Annotated[str, typer.Option(help="Refresh period, e.g. 2s.")] = "2s",
) -> None:
    """Follow a rollout live until it ends; exit 0 if it is done, 1 otherwise."""
    ctl: Ctl = ctx.obj
    period = max(1, parse_duration(every))
    request = pb.GetRolloutRequest(rollout_id=rollout_id)
    with ctl.connection.open() as s:
        stub = s.rollouts
        r = s.call(stub.GetRollout, request)
        terminal = sys.stdout.isatty() and not ctl.json
        if terminal:
            with Live(_render(r), console=Console(), refresh_per_second=4) as live:
                while r.state not in TERMINAL:
                    time.sleep(period)
                    r = s.call(stub.GetRollout, request)
                    live.update(_render(r))
        else:
            r = _follow(ctl, lambda: s.call(stub.GetRollout, request), r, period)
    if ctl.json:
        print_json(r)
    elif not terminal:
        _show(r)
    if r.state != "done":
        raise typer.Exit(FAILURE)


def _follow(ctl: Ctl, read: Any, r: pb.Rollout, period: float) -> pb.Rollout:
    """Not a terminal: one line whenever the progress changes, until the rollout ends."""
    last = ""
    while True:
        line = _line(r)
        said = line.split(" ", 1)[1]
        if said != last and not ctl.json:
            typer.echo(line)
            last = said
        if r.state in TERMINAL:
            return r
        time.sleep(period)
        r = read()


def _act(ctx: typer.Context, method: str, request: Any, verb: str) -> None:
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        reply = s.call(getattr(s.rollouts, method), request)
    if not machine_output(ctl, reply, "rollout", reply.rollout_id):
        typer.echo(printable(f"{reply.rollout_id} {verb}: {reply.state} ({reply.reason})"))


@app.command("pause")
@cli_errors
def pause(
    ctx: typer.Context,
    rollout_id: str,
    reason: Annotated[str, typer.Option(help="Recorded in the audit log.")] = "",
) -> None:
    """Stop assigning boxes (operator); the gates keep guarding the updated ones."""
    _act(
        ctx, "PauseRollout", pb.RolloutActionRequest(rollout_id=rollout_id, reason=reason), "paused"
    )


@app.command("resume")
@cli_errors
def resume(
    ctx: typer.Context,
    rollout_id: str,
    reason: Annotated[str, typer.Option(help="Recorded in the audit log.")] = "",
) -> None:
    """Continue a paused rollout (operator); paused time does not count as soak time."""
    request = pb.RolloutActionRequest(rollout_id=rollout_id, reason=reason)
    _act(ctx, "ResumeRollout", request, "resumed")


@app.command("abort")
@cli_errors
def abort(
    ctx: typer.Context,
    rollout_id: str,
    keep_updated: Annotated[
        bool,
        typer.Option("--keep-updated", help="Leave updated boxes on the new model (aborted)."),
    ] = False,
    reason: Annotated[str, typer.Option(help="Recorded in the audit log.")] = "",
) -> None:
    """Stop for good (operator): updated boxes get their previous model back."""
    request = pb.AbortRolloutRequest(
        rollout_id=rollout_id, reason=reason, keep_updated=keep_updated
    )
    _act(ctx, "AbortRollout", request, "aborted")

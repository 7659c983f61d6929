"""`okoctl audit ...`: read the audit log, save signed checkpoints, verify the chain.

`verify` does not trust the server: it downloads every entry, recomputes the hash chain
itself and checks it against a checkpoint file saved earlier with `audit checkpoint`
(kept by the auditor outside the fleet), so a rewritten chain is caught even when every
link of the rewrite is consistent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fleet.audit_chain import Verdict, key_id, verify_chain
from fleet.client import Session
from fleet.ctl_output import Column, Ctl, cli_errors, listing, print_json, when
from fleet.ctl_time import parse_moment
from fleet.exits import FAILURE
from fleet.watchlists.records import AuditRow, Checkpoint
from proto.oko.v1 import watchlists_pb2 as pb

app = typer.Typer(help="The hash-chained audit log and its checkpoints.", no_args_is_help=True)
PAGE = 5000


def register(root: typer.Typer) -> None:
    """Add the `audit` command group to okoctl."""
    root.add_typer(app, name="audit")


def _rows(s: Session, request: pb.ListAuditRequest, limit: int = 0) -> list[AuditRow]:
    out: list[AuditRow] = []
    while True:
        reply = s.call(s.watchlists.ListAudit, request)
        out += [
            AuditRow(r.seq, r.at_us, r.actor, r.action, r.target, r.detail, r.prev_hash, r.hash)
            for r in reply.records
        ]
        if not reply.next_after_seq or (limit and len(out) >= limit):
            return out[:limit] if limit else out
        request.after_seq = reply.next_after_seq


@app.command("list")
@cli_errors
def audit_list(
    ctx: typer.Context,
    since: Annotated[str, typer.Option(help="From: 15m / 2h / 7d ago, or RFC 3339.")] = "",
    actor: Annotated[str, typer.Option(help="Only this actor (token name).")] = "",
    action: Annotated[str, typer.Option(help="Exact action, or a prefix like 'subject.'.")] = "",
    limit: Annotated[int, typer.Option(help="At most this many entries.")] = 200,
) -> None:
    """Audit entries in chain order (admin)."""
    ctl: Ctl = ctx.obj
    request = pb.ListAuditRequest(
        limit=min(limit, PAGE), since=parse_moment(since), actor=actor, action=action
    )
    with ctl.connection.open() as s:
        rows = _rows(s, request, limit)
    if ctl.json:  # an object, as before: {"records": [...]}
        print_json({"records": [r.__dict__ for r in rows]})
        return
    listing(ctl, "audit", rows, AUDIT_COLUMNS, title="audit")


AUDIT_COLUMNS: tuple[Column[AuditRow], ...] = (
    Column("seq", lambda r: r.seq),
    Column("at", lambda r: _at(r.at_us)),
    Column("actor", lambda r: r.actor),
    Column("action", lambda r: r.action),
    Column("target", lambda r: r.target),
    Column("detail", lambda r: r.detail),
    Column("hash", lambda r: r.hash, wide=True),
)


def _at(at_us: int) -> str:
    stamp = pb.AuditRecord(at_us=at_us)
    stamp.at.FromMicroseconds(at_us)
    return when(stamp.at)


def checkpoint_json(cp: Checkpoint) -> dict[str, Any]:
    """A checkpoint as the JSON an auditor keeps."""
    return {
        "seq": cp.seq,
        "head_hash": cp.head_hash,
        "at_us": cp.at_us,
        "signature": cp.signature.hex(),
        "public_key": cp.public_key.hex(),
        "key_id": key_id(cp.public_key),
    }


def load_checkpoint(path: Path) -> Checkpoint:
    """A checkpoint file written by `okoctl audit checkpoint --out`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Checkpoint(
            int(data["seq"]),
            str(data["head_hash"]),
            int(data["at_us"]),
            bytes.fromhex(data["signature"]),
            bytes.fromhex(data["public_key"]),
        )
    except OSError as err:
        raise ValueError(f"--checkpoint {path}: {err.strerror}") from err
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"--checkpoint {path}: not a checkpoint file ({err})") from err


@app.command("checkpoint")
@cli_errors
def audit_checkpoint(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option(help="Save it here (keep it outside the fleet).")
    ] = None,
) -> None:
    """The chain head signed with the fleet's checkpoint key (admin)."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        reply = s.call(s.watchlists.GetCheckpoint, pb.GetCheckpointRequest())
    cp = Checkpoint(reply.seq, reply.head_hash, reply.at_us, reply.signature, reply.public_key)
    text = json.dumps(checkpoint_json(cp), indent=2, sort_keys=True)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"checkpoint at entry {cp.seq} (key {reply.key_id}) saved to {out}", err=True)
    else:
        typer.echo(text)


def _report(ctl: Ctl, verdict: Verdict) -> None:
    if ctl.json:
        print_json(
            {
                "ok": verdict.ok,
                "entries": verdict.entries,
                "head_seq": verdict.head_seq,
                "head_hash": verdict.head_hash,
                "problems": list(verdict.problems),
            }
        )
    elif verdict.ok:
        typer.echo(f"ok: {verdict.entries} entries, head {verdict.head_seq} {verdict.head_hash}")
    else:
        for problem in verdict.problems:
            typer.echo(f"FAILED: {problem}", err=True)


@app.command("verify")
@cli_errors
def audit_verify(
    ctx: typer.Context,
    checkpoint: Annotated[
        list[Path] | None, typer.Option(help="Checkpoint file saved earlier (repeatable).")
    ] = None,
) -> None:
    """Recompute the whole hash chain here and check it against checkpoint files (admin).

    Exits 1 when any link or checkpoint fails, naming each problem.
    """
    ctl: Ctl = ctx.obj
    checkpoints = [load_checkpoint(p) for p in checkpoint or []]
    with ctl.connection.open() as s:
        rows = _rows(s, pb.ListAuditRequest(limit=PAGE))
    verdict = verify_chain(rows, checkpoints)
    _report(ctl, verdict)
    if not verdict.ok:
        raise typer.Exit(FAILURE)

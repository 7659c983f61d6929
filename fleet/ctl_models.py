"""`okoctl model`: signing keys, offline signing, the registry, assignments and status.

`key generate` and `sign` never talk to the fleet: the private signing key stays on the
signer's machine (docs/operations.md, "Model registry and delivery").
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Annotated

import typer

from fleet.ctl_output import Ctl, cli_errors, fields, print_json, printable, table, when
from fleet.models import bundle
from models.signing import (
    SigningError,
    endorse,
    generate_private_key,
    key_id,
    load_private_key,
    parse_public_key,
    public_pem,
    public_raw,
)
from proto.oko.v1 import models_pb2 as pb

app = typer.Typer(help="Model registry: signed artifacts and their delivery.", no_args_is_help=True)
key_app = typer.Typer(help="Public keys that sign models.", no_args_is_help=True)
app.add_typer(key_app, name="key")
PUSH_TIMEOUT_S = 3600.0


def register(root: typer.Typer) -> None:
    """Add `okoctl model ...` to the root app."""
    root.add_typer(app, name="model")


def _split(ref: str) -> tuple[str, str]:
    name, sep, version = ref.partition("@")
    if not sep or not name or not version:
        raise ValueError(f"{ref!r}: expected NAME@VERSION")
    return name, version


def _passphrase() -> bytes | None:
    text = os.environ.get("OKO_SIGNING_KEY_PASSPHRASE")
    return text.encode() if text else None


# Keys -------------------------------------------------------------------------------------
@key_app.command("generate")
@cli_errors
def key_generate(
    out: Annotated[Path, typer.Option(help="Private key file to create (PEM, mode 0600).")],
) -> None:
    """Make a new signing key pair offline: OUT (private) and OUT.pub (public, for `key add`).

    Keep OUT off the fleet server, ideally on an offline machine or a token.
    """
    if out.exists():
        raise ValueError(f"{out}: exists; refusing to overwrite a signing key")
    private, raw = generate_private_key()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    pub = out.with_name(out.name + ".pub")
    pub.write_bytes(public_pem(raw))
    typer.echo(f"key {key_id(raw)}: private {out}, public {pub}")


@key_app.command("add")
@cli_errors
def key_add(
    ctx: typer.Context,
    public_key: Annotated[Path, typer.Argument(help="Public key file (PEM, hex or base64).")],
    name: Annotated[str, typer.Option(help="What the key is for, e.g. 'release 2025'.")] = "",
    endorse_with: Annotated[
        Path | None,
        typer.Option(
            help="Private key of an already trusted key: boxes enrolled earlier then trust "
            "the new key too (rotation). Read locally; only the endorsement is sent."
        ),
    ] = None,
) -> None:
    """Trust a public signing key. Boxes enrolled from now on pin it."""
    ctl: Ctl = ctx.obj
    try:
        raw = parse_public_key(public_key.read_bytes())
    except OSError as err:
        raise ValueError(f"{public_key}: {err.strerror}") from err
    except SigningError as err:
        raise ValueError(f"{public_key}: {err}") from err
    request = pb.AddSigningKeyRequest(public_key=raw, name=name)
    if endorse_with is not None:
        try:
            old = load_private_key(endorse_with, _passphrase())
        except SigningError as err:
            raise ValueError(str(err)) from err
        request.endorsed_by = key_id(public_raw(old.public_key()))
        request.endorsement = endorse(old, raw)
    with ctl.connection.open() as s:
        reply = s.call(s.models.AddSigningKey, request)
    if ctl.json:
        print_json(reply)
    else:
        endorsed = f", endorsed by {reply.endorsed_by}" if reply.endorsed_by else ""
        typer.echo(f"trusted key {reply.key_id}{endorsed}")


@key_app.command("list")
@cli_errors
def key_list(ctx: typer.Context) -> None:
    """Keys the fleet trusts for model signatures."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        reply = s.call(s.models.ListSigningKeys, pb.ListSigningKeysRequest())
    if ctl.json:
        print_json(list(reply.keys))
        return
    rows = [(k.key_id, printable(k.name), k.endorsed_by or "-") for k in reply.keys]
    table("model-signing keys", ("key id", "name", "endorsed by"), rows)


# Signing and pushing ----------------------------------------------------------------------
@app.command("sign")
@cli_errors
def sign(
    model: Annotated[Path, typer.Argument(help="The ONNX file.")],
    *,
    key: Annotated[Path, typer.Option(help="Private signing key (PEM).")],
    manifest: Annotated[
        Path | None, typer.Option(help="Manifest entry [default: MODEL.manifest.json].")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Signature file [default: MODEL.sig].")] = None,
) -> None:
    """Sign a model offline (no fleet contact). Passphrase: OKO_SIGNING_KEY_PASSPHRASE.

    Checks first that the manifest entry describes MODEL (size, sha256).
    """
    manifest = manifest or bundle.manifest_path(model)
    signature = bundle.sign(model, manifest, key, _passphrase())
    target = out or bundle.signature_path(model)
    target.write_bytes(base64.b64encode(signature) + b"\n")
    typer.echo(f"signed {model} -> {target}")


@app.command("push")
@cli_errors
def push(
    ctx: typer.Context,
    model: Annotated[Path, typer.Argument(help="The ONNX file.")],
    *,
    name: Annotated[str, typer.Option(help="Model name (as in the manifest).")],
    version: Annotated[str, typer.Option(help="Version (as in the manifest).")],
    manifest: Annotated[
        Path | None, typer.Option(help="Manifest entry [default: MODEL.manifest.json].")
    ] = None,
    signature: Annotated[Path | None, typer.Option(help="[default: MODEL.sig].")] = None,
) -> None:
    """Upload a signed model with its manifest entry and reference frames (streamed)."""
    ctl: Ctl = ctx.obj
    found = bundle.read_bundle(model, name, version, manifest, signature)
    shown = [0]

    def progress(sent: int, total: int) -> None:
        percent = sent * 100 // max(total, 1)
        if not ctl.json and percent >= shown[0] + 10:
            shown[0] = percent
            typer.echo(f"  {percent}% of {total} bytes", err=True)

    with ctl.connection.open() as s:
        reply = s.call(s.models.PushModel, bundle.push_requests(found, progress), PUSH_TIMEOUT_S)
    if ctl.json:
        print_json(reply)
    else:
        typer.echo(f"stored {reply.name}@{reply.version} ({reply.size} bytes, key {reply.key_id})")


# Registry ---------------------------------------------------------------------------------
@app.command("list")
@cli_errors
def list_(
    ctx: typer.Context, name: Annotated[str, typer.Option(help="Only this model.")] = ""
) -> None:
    """Stored model versions."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        reply = s.call(s.models.ListModels, pb.ListModelsRequest(name=name))
    if ctl.json:
        print_json(list(reply.models))
        return
    rows = [
        (m.name, m.version, m.sha256[:12], m.size, m.key_id, when(m.pushed_at), m.assigned_devices)
        for m in reply.models
    ]
    table("models", ("name", "version", "sha256", "bytes", "key", "pushed", "devices"), rows)


@app.command("show")
@cli_errors
def show(ctx: typer.Context, ref: Annotated[str, typer.Argument(help="NAME@VERSION.")]) -> None:
    """One stored version with its manifest entry."""
    ctl: Ctl = ctx.obj
    name, version = _split(ref)
    with ctl.connection.open() as s:
        m = s.call(s.models.GetModel, pb.GetModelRequest(name=name, version=version))
    if ctl.json:
        print_json(m)
        return
    fields(
        f"model {m.name}@{m.version}",
        [
            ("sha256", m.sha256),
            ("bytes", m.size),
            ("signed by", m.key_id),
            ("pushed", f"{when(m.pushed_at)} by {printable(m.pushed_by)}"),
            ("reference frames", m.frames),
            ("assigned devices", m.assigned_devices),
        ],
    )
    typer.echo(m.manifest)


# Assignments ------------------------------------------------------------------------------
def _print_assigned(ctl: Ctl, reply: pb.AssignModelResponse) -> None:
    if ctl.json:
        print_json(list(reply.assignments))
        return
    rows = [
        (
            a.device_id,
            f"{a.name}@{a.version}",
            a.assignment_id,
            "now" if a.delivered else "on connect",
        )
        for a in reply.assignments
    ]
    table("assigned", ("device", "model", "assignment", "delivered"), rows)


@app.command("assign")
@cli_errors
def assign(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@VERSION.")],
    devices: Annotated[list[str], typer.Argument(help="Device ids.")],
) -> None:
    """Have boxes run a model: they download, verify, warm up and swap it in."""
    ctl: Ctl = ctx.obj
    name, version = _split(ref)
    request = pb.AssignModelRequest(device_ids=devices, name=name, version=version)
    with ctl.connection.open() as s:
        _print_assigned(ctl, s.call(s.models.AssignModel, request))


@app.command("rollback")
@cli_errors
def rollback(
    ctx: typer.Context, devices: Annotated[list[str], typer.Argument(help="Device ids.")]
) -> None:
    """Send boxes back to the model they ran before (their kept copy: no download)."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        _print_assigned(
            ctl, s.call(s.models.RollbackModel, pb.RollbackModelRequest(device_ids=devices))
        )


@app.command("status")
@cli_errors
def status(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="One device [default: every device].")] = "",
) -> None:
    """Per device: assigned model, what runs, the state of the update and why it failed."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        reply = s.call(s.models.GetModelStatus, pb.GetModelStatusRequest(device_id=device))
    if ctl.json:
        print_json(list(reply.slots))
        return
    rows = []
    for slot in reply.slots:
        r = slot.report
        assigned = f"{slot.assigned_name}@{slot.assigned_version}" if slot.assigned_name else "-"
        running = f"{r.running.name}@{r.running.version}" if r.running.name else "-"
        rows.append((slot.device_id, assigned, running, slot.state, printable(r.error)[:80]))
    table("models on devices", ("device", "assigned", "running", "state", "error"), rows)

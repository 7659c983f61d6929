"""`okoctl config`: desired state per box and camera, compared with what the box runs."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from fleet import ctl_config_push
from fleet.client import ClientError
from fleet.ctl_output import Ctl, cli_errors, fields, print_json
from fleet.exits import FAILURE
from fleet.redaction import MARKER
from proto.oko.v1 import admin_pb2

app = typer.Typer(help="Desired state (device twin).", no_args_is_help=True)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"{path}: {err.strerror}") from err


def _show(view: admin_pb2.ConfigView) -> None:
    scope = f"{view.device_id}/{view.camera_id}" if view.camera_id else view.device_id
    fields(
        f"config {scope}",
        [
            ("desired version", view.rendered.version or "none"),
            ("reported version", view.reported_version or "none"),
            ("drift", "YES" if view.drift else "no"),
            ("last apply error", view.last_apply_error),
            ("author", view.desired.author),
        ],
    )
    document = view.desired.document if view.camera_id else view.rendered.document
    typer.echo(document)
    if MARKER in document:
        typer.echo(
            f"note: secrets show as {MARKER} below the admin role; `okoctl config set` with "
            f"a {MARKER} left unchanged keeps the stored secret",
            err=True,
        )


@app.command("get")
@cli_errors
def get(
    ctx: typer.Context,
    device_id: str,
    camera: Annotated[str, typer.Option(help="A camera's own document.")] = "",
) -> None:
    """Show the desired document, what the box reports running, and whether they differ."""
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        view = s.call(
            s.admin.GetConfig, admin_pb2.GetConfigRequest(device_id=device_id, camera_id=camera)
        )
    if ctl.json:
        print_json(view)
    else:
        _show(view)


@app.command("set")
@cli_errors
def set_(
    ctx: typer.Context,
    device_id: Annotated[
        str | None, typer.Argument(help="The device (or use --selector for many).")
    ] = None,
    *,
    file: Annotated[Path, typer.Option("-f", "--file", help="YAML document.")],
    selector: Annotated[
        str,
        typer.Option(
            help="Every enrolled device this label selector matches (`site=north,role=gate`, "
            "`key!=value`, `*` for all), in one call."
        ),
    ] = "",
    camera: Annotated[str, typer.Option(help="Set this camera's document.")] = "",
    expected_version: Annotated[int, typer.Option(help="Refuse if not at this version.")] = 0,
    dry_run: Annotated[bool, typer.Option(help="Validate only; store and push nothing.")] = False,
) -> None:
    """Validate and store a new document; a connected box gets it at once.

    The same content as stored (keys in any order) makes no new version: "unchanged".
    With `--selector` instead of DEVICE_ID, the document goes to every matching device in
    one call: validated once, a new version for each device whose content changes, one
    audit entry, pushed to every connected box. One line per device on stdout, progress
    and a summary on stderr. Exit code 1 if the fleet refuses the call (an invalid
    document, a selector that matches nothing) or any one device (the reason is on its
    line; the others still got the document).
    """
    ctl: Ctl = ctx.obj
    if (device_id is None) == (not selector):
        raise ValueError("name a DEVICE_ID or a --selector (exactly one)")
    if device_id is None:
        if expected_version:
            raise ValueError("--expected-version applies to one device, not to --selector")
        ctl_config_push.set_many(ctl, selector, camera, _read(file), dry_run)
        return
    request = admin_pb2.SetConfigRequest(
        device_id=device_id,
        camera_id=camera,
        document=_read(file),
        expected_version=expected_version,
        dry_run=dry_run,
    )
    with ctl.connection.open() as s:
        view = s.call(s.admin.SetConfig, request)
    if ctl.json:
        print_json(view)
    else:
        typer.echo(f"{device_id}{'/' + camera if camera else ''}: {_outcome(view, dry_run)}")


def _outcome(view: admin_pb2.ConfigView, dry_run: bool) -> str:
    if view.unchanged:
        return f"unchanged (version {view.rendered.version})"
    if dry_run:
        return f"valid; would be version {view.rendered.version}"
    return f"version {view.rendered.version}"


def _entries(text: str, source: str) -> list[dict[str, Any]]:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        raise ValueError(f"{source}: not valid YAML: {err}") from err
    for index, doc in enumerate(docs):
        if not isinstance(doc, dict) or "device" not in doc or "config" not in doc:
            raise ValueError(
                f"{source}: document {index + 1}: needs 'device' and 'config' keys "
                "(and optionally 'camera')"
            )
    return docs


@app.command("apply")
@cli_errors
def apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Option("-f", "--file", help="YAML, one document per scope.")],
    dry_run: Annotated[bool, typer.Option(help="Validate only; store and push nothing.")] = False,
) -> None:
    """Apply several documents from one YAML file, each validated by the fleet.

    Each document has `device: ID`, optional `camera: ID` and `config: {...}`; they are
    separated by `---`. Idempotent: a scope whose content is already stored prints
    "unchanged" and keeps its version. Failures are listed, exit code 1.
    """
    ctl: Ctl = ctx.obj
    entries = _entries(_read(file), str(file))
    failed = 0
    results: list[dict[str, Any]] = []
    with ctl.connection.open() as s:
        for entry in entries:
            scope = f"{entry['device']}/{entry.get('camera', '')}".rstrip("/")
            request = admin_pb2.SetConfigRequest(
                device_id=str(entry["device"]),
                camera_id=str(entry.get("camera", "")),
                document=yaml.safe_dump(entry["config"], sort_keys=False),
                dry_run=dry_run,
            )
            try:
                view = s.call(s.admin.SetConfig, request)
                results.append(
                    {
                        "scope": scope,
                        "version": view.rendered.version,
                        "unchanged": view.unchanged,
                        "outcome": _outcome(view, dry_run),
                    }
                )
            except ClientError as err:
                failed += 1
                results.append({"scope": scope, "error": str(err)})
    if ctl.json:
        print_json({"results": results})
    else:
        for item in results:
            typer.echo(f"{item['scope']}: {item.get('outcome') or 'REFUSED ' + item['error']}")
    if failed:
        raise typer.Exit(FAILURE)


@app.command("diff")
@cli_errors
def diff(
    ctx: typer.Context,
    device_id: str,
    file: Annotated[
        Path | None,
        typer.Option("-f", "--file", help="A scope document: diff what the box would receive."),
    ] = None,
    camera: Annotated[str, typer.Option(help="With --file: the file is this camera's.")] = "",
) -> None:
    """Show differences: desired vs what the box reports running, or desired vs a file.

    With `--file`, the fleet validates the file (a dry run: nothing is stored) and the diff
    is of the rendered box document now against the one the box would receive. Exit code 1
    when there is a difference (like `diff`), 0 when there is none.
    """
    ctl: Ctl = ctx.obj
    with ctl.connection.open() as s:
        view = s.call(s.admin.GetConfig, admin_pb2.GetConfigRequest(device_id=device_id))
        if file is None:
            before, after = view.reported_document, view.rendered.document
            names = (f"{device_id} reported v{view.reported_version}", "desired")
        else:
            request = admin_pb2.SetConfigRequest(
                device_id=device_id, camera_id=camera, document=_read(file), dry_run=True
            )
            planned = s.call(s.admin.SetConfig, request)
            before, after = view.rendered.document, planned.rendered.document
            names = (f"{device_id} desired v{view.rendered.version}", str(file))
    lines = list(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=names[0],
            tofile=names[1],
        )
    )
    if ctl.json:
        print_json({"differs": bool(lines), "diff": "".join(lines)})
    else:
        typer.echo("".join(lines).rstrip("\n") if lines else "no differences")
    if lines:
        raise typer.Exit(FAILURE)

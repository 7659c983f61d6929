"""Turn an `Installed` model into a loaded, verified detector - at start and for a swap.

A fleet model is loaded only after its signed entry verifies with a pinned key and its
file has the signed size and sha256, every time (a file damaged on disk while the box was
off is caught at the next start, and the box falls back to the previous model or to the
shipped one instead of running it). A shipped model is whatever `models/manifest.json`
describes, checked against its sha256 by the loader as always.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from agent.detect.object_detector import ObjectDetector
from agent.errors import ModelError
from agent.inference.backend import Model, load_spec
from agent.inference.manifest import ModelSpec, load_manifest, spec_for_file
from agent.models_update.inventory import (
    FLEET,
    SHIPPED,
    STATE_FILE,
    Installed,
    Inventory,
    ModelTag,
)
from agent.models_update.keys import PinnedKeys
from agent.models_update.verify import check_entry, check_file

log = logging.getLogger(__name__)


def tag_of(installed: Installed) -> ModelTag:
    """The identity events are stamped with."""
    return ModelTag(installed.name, installed.version, installed.sha256)


def installed_from_spec(spec: ModelSpec, inventory: Inventory) -> Installed:
    """How the box describes a model it was started with (fleet blob or shipped file)."""
    origin = FLEET if spec.path.parent == inventory.blob(spec.sha256).parent else SHIPPED
    return Installed(spec.name, spec.version, spec.sha256, origin, precision=spec.precision)


def verified_spec(
    installed: Installed, inventory: Inventory, pinned: Mapping[str, bytes]
) -> ModelSpec:
    """The spec to load `installed` from, after every check; `ModelError` says what failed."""
    if installed.origin == SHIPPED:
        return load_manifest().get(installed.name, installed.precision or "int8")
    entry = check_entry(
        installed.manifest, bytes.fromhex(installed.signature), installed.key_id, pinned
    )
    path = inventory.blob(installed.sha256)
    if not path.is_file():
        raise ModelError(f"{installed.label}: file {path} is missing")
    check_file(path, entry.sha256, entry.bytes)
    return spec_for_file(entry, path)


def load_installed(
    installed: Installed,
    inventory: Inventory,
    pinned: Mapping[str, bytes],
    *,
    backend: str,
    threads: int | None = None,
) -> Model:
    """`verified_spec`, then loaded on `backend`."""
    return load_spec(verified_spec(installed, inventory, pinned), backend, threads)


def startup_spec(data_dir: Path, identity_dir: Path, slot: str = "detector") -> ModelSpec | None:
    """The detector a restarting box runs: its persisted choice, if that still verifies.

    None means "no fleet choice": run the model named on the command line. When the chosen
    model fails its checks the previous one is tried, then None; each failure is logged.
    """
    if not (data_dir / "models" / STATE_FILE).is_file():
        return None  # never took a model from the fleet
    inventory = Inventory(data_dir)
    state = inventory.load(slot)
    pinned = PinnedKeys(identity_dir).load()
    for candidate in (state.running, state.previous):
        if candidate is None:
            continue
        try:
            spec = verified_spec(candidate, inventory, pinned)
        except ModelError as err:
            log.error("model %s refused at start: %s", candidate.label, err)
            continue
        log.info("starting on %s (%s, persisted choice)", candidate.label, candidate.origin)
        return spec
    return None


def detector_like(model: Model, current: ObjectDetector) -> ObjectDetector:
    """A detector for `model` with the running one's threshold and class filter."""
    return ObjectDetector(model, score_threshold=current.score_threshold)

"""The steps of one model update, each refusing with a reason (`ArtifactRefusedError`).

Kept apart from `ModelUpdater`'s state machine so each step reads as what it checks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from agent.config.agent import ModelsSection
from agent.detect.object_detector import ObjectDetector
from agent.inference.backend import Model, load_spec
from agent.inference.manifest import spec_for_file
from agent.models_update.download import Downloader, FileRequest
from agent.models_update.inventory import FLEET, Installed, Inventory
from agent.models_update.verify import (
    ArtifactRefusedError,
    check_entry,
    check_file,
    check_shapes,
)
from agent.models_update.warmup import WarmupOutcome, decode_frame, run_warmup
from models.schema import ManifestEntry
from proto.oko.v1 import models_pb2

SETTLED = (
    models_pb2.MODEL_STATE_RUNNING,
    models_pb2.MODEL_STATE_FAILED,
    models_pb2.MODEL_STATE_ROLLED_BACK,
)


def target_of(artifact: models_pb2.ModelArtifact) -> Installed:
    """The model an assignment names, as the box will record it once installed."""
    frames: tuple[str, ...] = ()
    try:
        warmup = json.loads(artifact.manifest).get("warmup") or {}
        frames = tuple(str(f["sha256"]) for f in warmup.get("frames", []))[:16]
    except (ValueError, TypeError, KeyError, AttributeError):
        frames = ()  # check_signed refuses the entry with the reason
    return Installed(
        name=artifact.name[:64],
        version=artifact.version[:64],
        sha256=artifact.sha256[:64],
        origin=FLEET,
        manifest=artifact.manifest,
        signature=bytes(artifact.signature).hex(),
        key_id=artifact.key_id[:64],
        frames=frames,
    )


def check_signed(
    target: Installed,
    pinned: Mapping[str, bytes],
    running: ObjectDetector,
    settings: ModelsSection,
) -> ManifestEntry:
    """The signed entry, if it is for this artifact and can replace the running detector."""
    entry = check_entry(target.manifest, bytes.fromhex(target.signature), target.key_id, pinned)
    if (entry.name, entry.version, entry.sha256) != (target.name, target.version, target.sha256):
        raise ArtifactRefusedError(
            f"the signed entry is {entry.name}@{entry.version} ({entry.sha256[:12]}), "
            f"the assignment names {target.label} ({target.sha256[:12]})"
        )
    if entry.bytes > settings.max_model_bytes:
        raise ArtifactRefusedError(
            f"{entry.bytes} bytes exceeds models.max_model_bytes {settings.max_model_bytes}"
        )
    if entry.task != "object-detection" or entry.decoder.get("kind") != "nanodet":
        raise ArtifactRefusedError(
            f"a {entry.task} model with decoder {entry.decoder.get('kind')!r} cannot be the "
            "object detector (nanodet decoding)"
        )
    if tuple(entry.labels) != tuple(running.labels):
        raise ArtifactRefusedError(
            "labels differ from the running detector's; the cameras' rules are built on "
            "those labels (a model with other classes needs a config change first)"
        )
    if entry.warmup is None:
        raise ArtifactRefusedError("no warm-up section: reference frames are required")
    return entry


async def download(
    downloader: Downloader,
    inventory: Inventory,
    target: Installed,
    entry: ManifestEntry,
    progress: Callable[[int, int], None],
) -> None:
    """Fetch the ONNX file and every reference frame not yet held, into partial files."""
    assert entry.warmup is not None
    wanted = [("", entry.sha256, entry.bytes)] + [
        (f.sha256, f.sha256, f.bytes) for f in entry.warmup.frames
    ]
    for file_sha, sha, size in wanted:
        if inventory.blob(sha).is_file():
            continue
        request = FileRequest(target.name, target.version, file_sha, size, inventory.partial(sha))
        await downloader.fetch(request, progress if not file_sha else None)


def _promote(inventory: Inventory, sha: str, size: int) -> Path:
    """Check a completed download and give it its verified name; a bad one is deleted."""
    blob = inventory.blob(sha)
    source = blob if blob.is_file() else inventory.partial(sha)
    try:
        check_file(source, sha, size)
    except ArtifactRefusedError:
        source.unlink(missing_ok=True)  # never resume on top of bad bytes
        raise
    if source != blob:
        source.replace(blob)
    return blob


def verify_and_load(
    inventory: Inventory, target: Installed, entry: ManifestEntry, backend: str
) -> Model:
    """Size and sha256 of every file, the ONNX shapes, then load on the running backend."""
    assert entry.warmup is not None
    for frame in entry.warmup.frames:
        _promote(inventory, frame.sha256, frame.bytes)
    path = _promote(inventory, target.sha256, entry.bytes)
    check_shapes(path, entry)
    return load_spec(spec_for_file(entry, path), backend)


def warm_up(model: Model, entry: ManifestEntry, inventory: Inventory) -> WarmupOutcome:
    """Run the reference frames through `model` (on the worker thread) and compare."""
    assert entry.warmup is not None
    images = []
    for frame in entry.warmup.frames:
        data = inventory.blob(frame.sha256).read_bytes()
        try:
            images.append(decode_frame(data, f"reference frame {frame.name or frame.sha256[:12]}"))
        except ValueError as err:
            raise ArtifactRefusedError(str(err)) from err
    return run_warmup(model, entry.warmup, images)


def files_of(*models: Installed | None) -> set[str]:
    """Digests of every file the given models need on disk."""
    keep: set[str] = set()
    for installed in models:
        if installed is not None and installed.origin == FLEET:
            keep.add(installed.sha256)
            keep.update(installed.frames)
    return keep

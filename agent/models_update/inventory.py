"""The box's model files and its persisted choice of model, under the data directory.

    <data_dir>/models/blobs/<sha256>      verified files (models and reference frames)
    <data_dir>/models/partial/<sha256>    a download in progress (kept to resume)
    <data_dir>/models/state.json          running + previous model of each slot

`state.json` is replaced atomically (temp file, fsync, rename, fsync of the directory) and
only after the new model verified and warmed up, so a box killed at any moment comes back
on the old model or the new one, complete and verified, never on half of a swap.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import ModelError
from agent.identity import write_private

log = logging.getLogger(__name__)

SHIPPED = "shipped"
FLEET = "fleet"
STATE_FILE = "state.json"


@dataclass(frozen=True)
class ModelTag:
    """name, version, sha256 of a detector: what the worker tags results with, and events carry."""

    name: str
    version: str
    sha256: str


@dataclass(frozen=True)
class Installed:
    """A model the box can run: shipped with the agent, or a verified fleet artifact."""

    name: str
    version: str
    sha256: str
    origin: str  # SHIPPED or FLEET
    precision: str = ""  # shipped models: which entry of models/manifest.json
    manifest: str = ""  # fleet models: the signed canonical entry
    signature: str = ""  # fleet models: hex Ed25519 signature
    key_id: str = ""
    frames: tuple[str, ...] = ()  # fleet models: reference frames' sha256

    @property
    def label(self) -> str:
        """`name@version`."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class SlotState:
    """What one slot runs, what it ran before, and the last assignment it acted on."""

    running: Installed | None = None
    previous: Installed | None = None
    assignment_id: int = 0
    last: dict[str, Any] = field(default_factory=dict)  # the last report's fields


def _installed(data: dict[str, Any] | None) -> Installed | None:
    if not data:
        return None
    return Installed(**{**data, "frames": tuple(data.get("frames", ()))})


class Inventory:
    """Files and persisted state of the box's models."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "models"
        for sub in ("blobs", "partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = self.root / STATE_FILE

    def blob(self, sha256: str) -> Path:
        """Where a verified file with this digest lives."""
        return self.root / "blobs" / sha256

    def partial(self, sha256: str) -> Path:
        """Where a download of this digest accumulates."""
        return self.root / "partial" / sha256

    def load(self, slot: str = "detector") -> SlotState:
        """The persisted state of `slot` (empty when the box never took a fleet model)."""
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return SlotState()
        except (OSError, ValueError) as err:
            raise ModelError(f"{self.path}: unreadable model state: {err}") from err
        data = doc.get(slot, {})
        return SlotState(
            running=_installed(data.get("running")),
            previous=_installed(data.get("previous")),
            assignment_id=int(data.get("assignment_id", 0)),
            last=dict(data.get("last", {})),
        )

    def save(self, state: SlotState, slot: str = "detector") -> None:
        """Replace the slot's state atomically (one rename)."""
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            doc = {}
        doc[slot] = {
            "running": asdict(state.running) if state.running else None,
            "previous": asdict(state.previous) if state.previous else None,
            "assignment_id": state.assignment_id,
            "last": state.last,
        }
        write_private(self.path, json.dumps(doc, indent=1, sort_keys=True).encode())

    def prune(self, keep: set[str]) -> None:
        """Delete verified files and partial downloads no kept model needs."""
        for sub in ("blobs", "partial"):
            for path in (self.root / sub).iterdir():
                if path.name not in keep:
                    path.unlink(missing_ok=True)
                    log.info("removed model file %s (no longer needed)", path.name[:12])

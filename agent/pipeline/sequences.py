"""Per-camera event sequence numbers that survive restarts of the agent.

The fleet reads a gap in a camera's sequence as lost events, and a repeat as a bug, so the
last number minted must outlive the process. It is written (atomically, fsynced) *before*
the events carrying it reach the spool: a crash in between costs a gap, never a repeat.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from agent.errors import SpoolError
from agent.identity import write_private

log = logging.getLogger(__name__)


class SequenceStore:
    """`<data_dir>/sequences.json`: the last sequence number minted per camera."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._last: dict[str, int] = self._load()

    def _load(self) -> dict[str, int]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise SpoolError(f"{self.path}: cannot read sequence numbers: {err}") from err
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return {str(k): int(v) for k, v in data.items()}
        except (ValueError, TypeError) as err:
            # Refuse rather than restart at 1: repeating numbers would corrupt the fleet's
            # loss accounting for every camera of the box.
            raise SpoolError(
                f"{self.path}: damaged sequence file ({err}); restore it, or "
                "remove it to restart every camera's sequence at 1"
            ) from err

    def next_for(self, camera_id: str) -> int:
        """The first sequence number a camera's minter should use now."""
        with self._lock:
            return self._last.get(camera_id, 0) + 1

    def record(self, camera_id: str, last: int) -> None:
        """Persist that `camera_id` has minted up to `last` (durable when this returns)."""
        with self._lock:
            if self._last.get(camera_id, 0) >= last:
                return
            self._last[camera_id] = last
            data = json.dumps(self._last, sort_keys=True).encode()
            try:
                write_private(self.path, data)
            except OSError as err:
                raise SpoolError(f"{self.path}: cannot write sequence numbers: {err}") from err

"""Where minted events go besides the spool: a JSON Lines file.

One event per line, in the protobuf JSON mapping of `oko.v1.Event` with the .proto field
names (`line_crossing`, `capture_time`, ...), so a line reads back into the very message the
fleet would have received (`json_format.ParseDict`). Lines are flushed as events arrive: a
crash or a bad frame later in a video never loses what was already written.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from google.protobuf import json_format

from agent.errors import OkoError
from proto.oko.v1 import events_pb2


def event_to_dict(event: events_pb2.Event) -> dict[str, Any]:
    """The event as JSON-ready data (proto field names, enums as names)."""
    return json_format.MessageToDict(event, preserving_proto_field_name=True)


def event_from_dict(data: dict[str, Any]) -> events_pb2.Event:
    """Inverse of `event_to_dict`, for readers of the file."""
    return json_format.ParseDict(data, events_pb2.Event())


class JsonlSink:
    """Appends events to a JSON Lines file; thread-safe (cameras share one file)."""

    def __init__(self, path: str | Path, append: bool = False) -> None:
        """Opens (truncates unless `append`) the file; `OkoError` names it if that fails."""
        self.path = Path(path)
        self.written = 0
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: TextIO = self.path.open("a" if append else "w", encoding="utf-8")
        except OSError as err:
            raise OkoError(f"{self.path}: cannot write events: {err.strerror or err}") from err

    def write(self, events: Iterable[events_pb2.Event]) -> int:
        """Write and flush `events`; returns how many."""
        lines = [json.dumps(event_to_dict(e), separators=(",", ":")) + "\n" for e in events]
        if not lines:
            return 0
        with self._lock:
            try:
                self._file.writelines(lines)
                self._file.flush()
            except OSError as err:
                raise OkoError(f"{self.path}: cannot write events: {err.strerror or err}") from err
            self.written += len(lines)
        return len(lines)

    def close(self) -> None:
        """Close the file (lines written so far are flushed); calling it again does nothing."""
        with self._lock:
            if not self._file.closed:
                self._file.close()

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonl(path: str | Path) -> list[events_pb2.Event]:
    """Every event of a JSON Lines file written by `JsonlSink`."""
    with Path(path).open(encoding="utf-8") as fh:
        return [event_from_dict(json.loads(line)) for line in fh if line.strip()]

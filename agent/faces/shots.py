"""`FaceShotStore`: keeps best face shots on the box, one JPEG per face event.

Face images never go on the wire (the `Face` message carries only the embedding), but an
operator confirming a watchlist alert needs to see the face. So the shot is written here,
named by the event's id, where the fleet can ask for it while retention allows. The file is
written under a temporary name and renamed, so a reader never sees half a JPEG.

Kept out of `FaceAnalyzer` on purpose: the analyzer is pure, and only after minting does an
event have the id that names the file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from agent.errors import OkoError
from agent.events.types import AnalyticsEvent, FaceShot
from proto.oko.v1 import events_pb2

log = logging.getLogger(__name__)


class FaceShotStore:
    """Writes the ``shot`` of face events as ``<directory>/<event id>.jpg``."""

    def __init__(self, directory: str | Path, jpeg_quality: int = 92) -> None:
        """Creates the folder; `OkoError` names it if that is impossible."""
        if not 1 <= jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be 1..100, got {jpeg_quality}")
        self.directory = Path(directory)
        self.jpeg_quality = jpeg_quality
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OkoError(
                f"{self.directory}: cannot keep face shots: {err.strerror or err}"
            ) from err

    def path_for(self, event_id: str) -> Path:
        if not event_id or "/" in event_id or event_id.startswith("."):
            raise ValueError(f"not a usable event id for a file name: {event_id!r}")
        return self.directory / f"{event_id}.jpg"

    def save(
        self, events: Sequence[AnalyticsEvent], wire: Sequence[events_pb2.Event]
    ) -> list[Path]:
        """Write the shots of the face events among `events`; `wire` is their minted form.

        `events` and `wire` are parallel (as `EventMinter.mint_all` returns them). Returns
        the files written. Raises `OkoError` naming the file if one cannot be written;
        files written before it stay.
        """
        if len(events) != len(wire):
            raise ValueError(
                f"{len(events)} events but {len(wire)} minted events: "
                "pass the minter's output for exactly these events"
            )
        written = []
        for event, msg in zip(events, wire, strict=True):
            if isinstance(event.detail, FaceShot):
                written.append(self._write(self.path_for(msg.event_id), event.detail.shot))
        return written

    def _write(self, path: Path, shot: np.ndarray) -> Path:
        ok, data = cv2.imencode(
            ".jpg", np.ascontiguousarray(shot), [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality]
        )
        if not ok:
            raise OkoError(
                f"{path}: OpenCV could not encode the face shot "
                f"(shape {getattr(shot, 'shape', None)})"
            )
        tmp = path.with_suffix(".jpg.tmp")
        try:
            tmp.write_bytes(data.tobytes())
            os.replace(tmp, path)
        except OSError as err:
            raise OkoError(f"{path}: cannot write face shot: {err.strerror or err}") from err
        log.debug("face shot kept at %s", path)
        return path

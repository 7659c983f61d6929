"""`FaceShotStore`: keeps best face shots on the box, one JPEG per face event.

Face images never go on the wire (the `Face` message carries only the embedding), but an
operator confirming a watchlist alert needs to see the face. So the shot is written here,
named by the event's id, where the fleet can ask for it while retention allows. The file is
written under a temporary name and renamed, so a reader never sees half a JPEG.

A face is personal data: shots are 0600 in a 0700 folder from the first byte on (created
with those modes, not chmod-ed afterwards), readable by the agent's user only.

Kept out of `FaceAnalyzer` on purpose: the analyzer is pure, and only after minting does an
event have the id that names the file.

Shots are deleted `retention_s` after they were written: a shot is only worth keeping
until the fleet has matched its embedding and, for an alert, asked for it; past that it is
a picture of a passer-by. Expiry is checked on every `save` (called once per frame, so it
also runs when no faces come) against the shots this store wrote, oldest first, which
costs nothing until one is due; files left by an earlier run are found by one scan of the
folder at start, by their modification time.

`load` is how a shot leaves the box: only when the fleet asks for the shot of an alert
(an `EvidenceRequest` on the uplink), and only while it is within retention - a shot found
past it is deleted then and there instead of sent.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from agent.errors import OkoError
from agent.events.types import AnalyticsEvent, FaceShot
from proto.oko.v1 import events_pb2

log = logging.getLogger(__name__)
#: What an event id this box minted looks like (a UUID); anything else is never a shot's name.
_EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class ShotUnavailableError(OkoError):
    """The shot asked for is not kept (any more); the message says why, for the fleet."""


@dataclass(frozen=True)
class StoredShot:
    """A kept shot: the JPEG bytes as written and when (wall-clock seconds, file time)."""

    jpeg: bytes
    written_at: float


def _tighten(directory: Path) -> None:
    """Make a folder of ours 0700 (older agents made it 0755); never touch a shared one."""
    info = directory.stat()
    if not info.st_mode & 0o077:
        return
    if info.st_uid == os.geteuid() and not info.st_mode & stat.S_ISVTX:
        directory.chmod(0o700)
    else:
        log.warning("%s is readable by others and not ours to change: face shots", directory)


class FaceShotStore:
    """Writes the ``shot`` of face events as ``<directory>/<event id>.jpg``."""

    def __init__(
        self,
        directory: str | Path,
        jpeg_quality: int = 92,
        retention_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Creates the folder and deletes shots in it older than `retention_s` (None: keep).

        `clock` is the wall clock (file times are wall-clock times); tests pass their own.
        `OkoError` names the folder if it cannot be created.
        """
        if not 1 <= jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be 1..100, got {jpeg_quality}")
        if retention_s is not None and not retention_s > 0:
            raise ValueError(f"retention_s must be > 0, got {retention_s}")
        self.directory = Path(directory)
        self.jpeg_quality = jpeg_quality
        self.retention_s = retention_s
        self.deleted = 0  # shots deleted by retention since start
        self._clock = clock
        self._written: deque[tuple[float, Path]] = deque()  # oldest first
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            _tighten(self.directory)
        except OSError as err:
            raise OkoError(
                f"{self.directory}: cannot keep face shots: {err.strerror or err}"
            ) from err
        if retention_s is not None:
            self._expire_left_over(self._clock() - retention_s)

    def path_for(self, event_id: str) -> Path:
        """Where the shot of `event_id` is kept; refuses ids that would leave the directory."""
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
                self._written.append((self._clock(), written[-1]))
        self.expire()
        return written

    def load(self, event_id: str) -> StoredShot:
        """The shot of `event_id` if it is still kept; `ShotUnavailableError` says why not.

        A shot past retention is deleted now (the camera may have stopped calling `save`)
        and reported as deleted, never returned.
        """
        if not _EVENT_ID.fullmatch(event_id):
            raise ShotUnavailableError(f"not an event id of this box: {event_id[:64]!r}")
        path = self.path_for(event_id)
        kept = f"{self.retention_s / 3600:g} h" if self.retention_s is not None else "unlimited"
        try:
            with path.open("rb") as f:
                written_at = os.fstat(f.fileno()).st_mtime
                if self.retention_s is not None and written_at < self._clock() - self.retention_s:
                    data = None
                else:
                    data = f.read()
        except FileNotFoundError:
            raise ShotUnavailableError(
                f"no shot of face event {event_id} on this box (deleted after the {kept} "
                "retention, or never kept)"
            ) from None
        except OSError as err:
            raise ShotUnavailableError(f"shot of face event {event_id} unreadable: {err}") from err
        if data is None:
            self._delete(path)
            raise ShotUnavailableError(
                f"shot of face event {event_id} deleted: older than the {kept} retention"
            )
        return StoredShot(data, written_at)

    def expire(self) -> int:
        """Delete the shots this store wrote that are past retention; how many were."""
        if self.retention_s is None:
            return 0
        cutoff = self._clock() - self.retention_s
        count = 0
        while self._written and self._written[0][0] < cutoff:
            _, path = self._written.popleft()
            count += self._delete(path)
        return count

    def _expire_left_over(self, cutoff: float) -> None:
        """Shots (and half-written temporaries) of earlier runs, by modification time."""
        try:
            with os.scandir(self.directory) as entries:
                names = [e.name for e in entries if e.name.endswith((".jpg", ".jpg.tmp"))]
        except OSError as err:
            raise OkoError(
                f"{self.directory}: cannot list face shots: {err.strerror or err}"
            ) from err
        count = 0
        for name in names:
            path = self.directory / name
            try:
                expired = path.stat().st_mtime < cutoff
            except OSError:
                continue  # gone meanwhile (another camera sharing the folder)
            if expired:
                count += self._delete(path)
        if count:
            log.info("face shots: deleted %d past retention in %s", count, self.directory)

    def _delete(self, path: Path) -> int:
        try:
            path.unlink()
        except FileNotFoundError:
            return 0  # deleted by someone else (another camera sharing the folder)
        except OSError as err:
            # Retention must not stop the camera: log it, the next start's scan retries.
            log.warning("face shot %s past retention could not be deleted: %s", path, err)
            return 0
        self.deleted += 1
        return 1

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
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data.tobytes())
            os.replace(tmp, path)
        except OSError as err:
            raise OkoError(f"{path}: cannot write face shot: {err.strerror or err}") from err
        log.debug("face shot kept at %s", path)
        return path

"""Artifact files on the fleet's disk, named by their sha256 (content-addressed).

    <data_dir>/models/blobs/<sha256[:2]>/<sha256>

A file is written to a temporary name beside its final place, hashed while it is written,
fsynced, and renamed only if its size and sha256 are what was announced: a half-uploaded
or corrupt file never gets a content name. Two versions with the same file share it.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Generator
from pathlib import Path

from fleet.errors import InvalidRequestError, NotFoundError, StoreError


class BlobWriter:
    """One upload in progress: `write` chunks, then `commit` (or `abort`)."""

    def __init__(self, store: BlobStore, sha256: str, size: int) -> None:
        self.sha256 = sha256
        self.size = size
        self.written = 0
        self._store = store
        self._hash = hashlib.sha256()
        self._tmp = store.root / "tmp" / f"{sha256}.{secrets.token_hex(4)}.part"
        self._tmp.parent.mkdir(parents=True, exist_ok=True)
        self._file = self._tmp.open("wb")

    def write(self, data: bytes) -> None:
        """Append a chunk; more bytes than announced is an InvalidRequestError."""
        if self.written + len(data) > self.size:
            raise InvalidRequestError(
                f"file {self.sha256[:12]}: more than the announced {self.size} bytes"
            )
        self._file.write(data)
        self._hash.update(data)
        self.written += len(data)

    def commit(self) -> Path:
        """Check size and sha256, fsync and give the file its content name."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if self.written != self.size:
            self.abort()
            raise InvalidRequestError(
                f"file {self.sha256[:12]}: {self.written} bytes received, {self.size} announced"
            )
        digest = self._hash.hexdigest()
        if digest != self.sha256:
            self.abort()
            raise InvalidRequestError(
                f"file sha256 is {digest}, the manifest says {self.sha256} (corrupted upload?)"
            )
        final = self._store.path(self.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._tmp, final)
        _fsync_dir(final.parent)
        return final

    def abort(self) -> None:
        """Drop the partial file."""
        if not self._file.closed:
            self._file.close()
        self._tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """The content-addressed file store under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as err:
            raise StoreError(f"{root}: cannot create the model store: {err.strerror}") from err

    def path(self, sha256: str) -> Path:
        """Where the file with this digest lives (whether or not it exists)."""
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise InvalidRequestError(f"{sha256[:70]!r} is not a lower-case hex sha256")
        return self.root / "blobs" / sha256[:2] / sha256

    def has(self, sha256: str, size: int) -> bool:
        """Whether a file with this digest and size is stored already."""
        path = self.path(sha256)
        return path.is_file() and path.stat().st_size == size

    def writer(self, sha256: str, size: int) -> BlobWriter:
        """Start writing a file announced with this digest and size."""
        self.path(sha256)  # validates the digest before it becomes a file name
        return BlobWriter(self, sha256, size)

    def read(self, sha256: str, offset: int, chunk: int) -> Generator[bytes, None, None]:
        """The file's bytes from `offset` in chunks of at most `chunk` bytes.

        Reads what is on disk: if the file was damaged after it was stored, the box's own
        checks (size, sha256, signature) refuse it; the fleet does not hide that.
        """
        path = self.path(sha256)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"model file {sha256[:12]} is missing from the store") from None
        with handle:
            handle.seek(offset)
            while data := handle.read(chunk):
                yield data

"""Download one file of an assigned model over the box's mutual-TLS channel, resumably.

Bytes go to `<data_dir>/models/partial/<sha256>` as they arrive (fsynced every few MiB and
at the end), so a cut connection, a fleet restart or a box restart costs only what was
not yet written: the next attempt asks `FetchModel` for the rest from that offset. Every
chunk is checked (offset continuous, size bounded, total as announced) before it is
written; an optional rate cap keeps the model from crowding events off a thin link.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from agent.capture.pacing import Backoff
from agent.models_update.metrics import ModelMetrics
from agent.models_update.verify import ArtifactRefusedError
from proto.oko.v1 import agent_pb2_grpc, models_pb2

log = logging.getLogger(__name__)

MAX_CHUNK_BYTES = 1024 * 1024  # the fleet sends 256 KiB; anything above 1 MiB is refused
_FSYNC_EVERY = 4 * 1024 * 1024
_NO_PROGRESS_LIMIT = 3  # clean stream ends in a row that added nothing: the file is short
# Codes after which asking again cannot help.
_FINAL = (
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
)


@dataclass
class FileRequest:
    """One file to fetch: which version, which file, how big, where to put it."""

    name: str
    version: str
    file_sha256: str  # "" for the ONNX file itself
    size: int
    partial: Path


@dataclass
class DownloadStats:
    """What a download cost, for metrics and the report."""

    bytes_received: int = 0
    resumes: int = 0  # attempts that started beyond offset 0


Progress = Callable[[int, int], None]  # (bytes held, total)


class Downloader:
    """Fetches files with `FetchModel` over a channel made by `connect` (per attempt)."""

    def __init__(
        self,
        connect: Callable[[], grpc.aio.Channel],
        *,
        rate_bytes_s: Callable[[], int] = lambda: 0,
        backoff: Backoff | None = None,
        max_attempts: int = 30,
        metrics: ModelMetrics | None = None,
    ) -> None:
        self._connect = connect
        self._rate = rate_bytes_s
        self._backoff = backoff or Backoff(0.5, 30.0)
        self._max_attempts = max_attempts
        self.stats = DownloadStats()
        self._metrics = metrics

    async def fetch(self, want: FileRequest, progress: Progress | None = None) -> Path:
        """Complete `want.partial` to `want.size` bytes; ArtifactRefusedError if it cannot."""
        stalls = 0
        for attempt in range(1, self._max_attempts + 1):
            held = _held(want)
            if held == want.size:
                return want.partial
            if held:
                self.stats.resumes += 1
                if self._metrics is not None:
                    self._metrics.download_resumes.inc()
                log.info("resuming %s download at byte %d of %d", want.name, held, want.size)
            try:
                added = await self._attempt(want, held, progress)
            except grpc.aio.AioRpcError as err:
                if err.code() in _FINAL:
                    raise ArtifactRefusedError(
                        f"fleet refused the download: {err.code().name} {err.details()}"
                    ) from err
                log.warning("model download cut (%s), attempt %d", err.code().name, attempt)
                await asyncio.sleep(self._backoff.next_delay())
                continue
            if _held(want) == want.size:
                return want.partial
            stalls = 0 if added else stalls + 1
            if stalls >= _NO_PROGRESS_LIMIT:
                raise ArtifactRefusedError(
                    f"truncated: the fleet sent {_held(want)} of {want.size} bytes"
                )
        raise ArtifactRefusedError(f"download failed after {self._max_attempts} attempts")

    async def _attempt(self, want: FileRequest, offset: int, progress: Progress | None) -> int:
        request = models_pb2.FetchModelRequest(
            name=want.name, version=want.version, offset=offset, file_sha256=want.file_sha256
        )
        added = 0
        started = time.monotonic()
        unsynced = 0
        async with self._connect() as channel:
            call = agent_pb2_grpc.AgentServiceStub(channel).FetchModel(request)
            with want.partial.open("ab") as out:
                try:
                    async for chunk in call:
                        _check_chunk(chunk, offset + added, want)
                        out.write(chunk.data)
                        added += len(chunk.data)
                        unsynced += len(chunk.data)
                        self.stats.bytes_received += len(chunk.data)
                        if self._metrics is not None:
                            self._metrics.download_bytes.inc(len(chunk.data))
                        if unsynced >= _FSYNC_EVERY:
                            out.flush()
                            os.fsync(out.fileno())
                            unsynced = 0
                        if progress is not None:
                            progress(offset + added, want.size)
                        await self._pace(added, started)
                finally:
                    out.flush()
                    os.fsync(out.fileno())
        return added

    async def _pace(self, sent: int, started: float) -> None:
        rate = self._rate()
        if rate > 0:
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)


def _held(want: FileRequest) -> int:
    """Bytes already downloaded; a partial file longer than the file is started over."""
    try:
        held = want.partial.stat().st_size
    except FileNotFoundError:
        want.partial.parent.mkdir(parents=True, exist_ok=True)
        want.partial.touch(mode=0o600)
        return 0
    if held > want.size:
        want.partial.unlink()
        want.partial.touch(mode=0o600)
        return 0
    return held


def _check_chunk(chunk: models_pb2.ModelChunk, offset: int, want: FileRequest) -> None:
    if chunk.offset != offset:
        raise ArtifactRefusedError(f"fleet sent bytes at offset {chunk.offset}, expected {offset}")
    if len(chunk.data) > MAX_CHUNK_BYTES:
        raise ArtifactRefusedError(f"chunk of {len(chunk.data)} bytes exceeds {MAX_CHUNK_BYTES}")
    if chunk.total != want.size or offset + len(chunk.data) > want.size:
        what = "truncated" if chunk.total < want.size else "altered"
        raise ArtifactRefusedError(
            f"{what}: the fleet's file {want.file_sha256[:12] or want.name} has "
            f"{chunk.total} bytes, the signed entry says {want.size}"
        )

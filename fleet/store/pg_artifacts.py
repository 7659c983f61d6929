"""Model artifact files in PostgreSQL, so that every replica can serve every version.

A file is kept as numbered chunks of at most `fleet.models.blobs.SHARE_CHUNK` bytes, keyed
by its sha256 (content-addressed like the files on disk: two versions with one file share
it). Writes are idempotent (`ON CONFLICT DO NOTHING`), so a push retried after a crash
completes what the first one left; a reader trusts nothing it reads, the replica that fills
its disk from here checks size and sha256 before the file gets its content name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from typing_extensions import override

from fleet.store.base import Store

Conn = asyncpg.Connection
T = TypeVar("T")


async def put_chunk(conn: Conn, sha256: str, seq: int, data: bytes) -> None:
    """Keep one chunk (a chunk stored before is left as it is)."""
    await conn.execute(
        "INSERT INTO model_artifact_chunks (sha256, seq, data) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING",
        sha256,
        seq,
        data,
    )


async def get_chunk(conn: Conn, sha256: str, seq: int) -> bytes | None:
    """One chunk, or None past the last."""
    row = await conn.fetchval(
        "SELECT data FROM model_artifact_chunks WHERE sha256 = $1 AND seq = $2", sha256, seq
    )
    return bytes(row) if row is not None else None


async def size(conn: Conn, sha256: str) -> int | None:
    """Bytes stored for the file, None when none are."""
    total = await conn.fetchval(
        "SELECT sum(octet_length(data)) FROM model_artifact_chunks WHERE sha256 = $1", sha256
    )
    return int(total) if total is not None else None


class ArtifactMixin(Store):
    """The shared-artifact part of `PostgresStore`; needs the host's `_tx` and `_read`."""

    shares_artifacts = True

    async def _tx(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    async def _read(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    @override
    async def put_artifact_chunk(self, sha256: str, seq: int, data: bytes) -> None:
        await self._tx(put_chunk, sha256, seq, data)

    @override
    async def get_artifact_chunk(self, sha256: str, seq: int) -> bytes | None:
        return await self._read(get_chunk, sha256, seq)

    @override
    async def artifact_size(self, sha256: str) -> int | None:
        return await self._read(size, sha256)

"""Artifact files across replicas: kept in the shared store at push, fetched on demand.

Each replica serves files from its own disk (`BlobStore`). With a store that shares
artifacts (PostgreSQL, docs/scale.md) a push also copies every file into the store before
the version exists, so any replica can serve any version: one that lacks a file fills its
disk from the store the first time a box asks, through the same `BlobWriter` checks (size
and sha256) as an upload. On SQLite (one process) nothing is copied.
"""

from __future__ import annotations

import asyncio
import logging

from fleet.errors import FleetError, NotFoundError, StoreError
from fleet.models.blobs import BlobStore
from fleet.store.base import Store

log = logging.getLogger(__name__)
SHARE_CHUNK = 1024 * 1024


async def upload(store: Store, blobs: BlobStore, sha256: str) -> None:
    """Copy the stored file with this digest into the shared store, chunk by chunk."""
    reader = blobs.read(sha256, 0, SHARE_CHUNK)
    seq = 0
    try:
        while (data := await asyncio.to_thread(next, reader, b"")) != b"":
            await store.put_artifact_chunk(sha256, seq, data)
            seq += 1
    finally:
        reader.close()


async def fill(store: Store, blobs: BlobStore, sha256: str) -> None:
    """Bring the file onto this replica's disk from the shared store; NotFoundError if absent."""
    total = await store.artifact_size(sha256) if store.shares_artifacts else None
    if total is None:
        raise NotFoundError(f"model file {sha256[:12]} is missing from the store")
    writer = blobs.writer(sha256, total)
    seq = 0
    try:
        while (data := await store.get_artifact_chunk(sha256, seq)) is not None:
            await asyncio.to_thread(writer.write, data)
            seq += 1
        await asyncio.to_thread(writer.commit)
    except FleetError as err:
        writer.abort()
        raise StoreError(f"the shared copy of model file {sha256[:12]} is damaged: {err}") from err
    except BaseException:
        writer.abort()
        raise
    log.info("model file %s (%d bytes) copied from the shared store", sha256[:12], total)

"""`AgentService.FetchModel`: a box downloads one file of the model version assigned to it.

Only files of a version the device is assigned now are served (the ONNX file or one of its
reference frames), from the requested offset, in chunks of `CHUNK_BYTES`; a box whose
download was cut asks again from the bytes it holds. Reads run off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fleet.app import FleetApp
from fleet.errors import InvalidRequestError, NotFoundError
from fleet.limits import MAX_ID_CHARS, MAX_VERSION_CHARS
from fleet.models import share
from fleet.models.blobs import BlobStore
from fleet.models.records import ModelVersion
from proto.oko.v1 import models_pb2

CHUNK_BYTES = 256 * 1024


def blob_store(app: FleetApp) -> BlobStore:
    """The fleet's artifact files, under `<data_dir>/models`."""
    return BlobStore(app.settings.data_dir / "models")


async def _assigned_version(
    app: FleetApp, device_id: str, request: models_pb2.FetchModelRequest
) -> ModelVersion:
    if len(request.name) > MAX_ID_CHARS or len(request.version) > MAX_VERSION_CHARS:
        raise InvalidRequestError("name or version longer than the limits")
    assigned = await app.store.get_assignments(device_id)
    if not any(a.name == request.name and a.version == request.version for a in assigned):
        raise NotFoundError(
            f"model {request.name!r}@{request.version!r} is not assigned to {device_id}"
        )
    version = await app.store.get_model_version(request.name, request.version)
    if version is None:
        raise NotFoundError(f"model {request.name!r}@{request.version!r} is not in the registry")
    return version


async def chunks(
    app: FleetApp, device_id: str, request: models_pb2.FetchModelRequest
) -> AsyncIterator[models_pb2.ModelChunk]:
    """The requested file of an assigned version from `request.offset` on."""
    version = await _assigned_version(app, device_id, request)
    wanted = request.file_sha256 or version.sha256
    if wanted != version.sha256 and wanted not in version.frames:
        raise NotFoundError(f"{version.name}@{version.version} has no file {wanted[:70]!r}")
    blobs = blob_store(app)
    path = blobs.path(wanted)
    if not path.is_file():  # pushed through another replica: copy it from the shared store
        await share.fill(app.store, blobs, wanted)
    total = path.stat().st_size
    if request.offset > total:
        raise InvalidRequestError(f"offset {request.offset} is beyond the file's {total} bytes")
    reader = blobs.read(wanted, request.offset, CHUNK_BYTES)
    offset = request.offset
    try:
        while (data := await asyncio.to_thread(next, reader, b"")) != b"":
            yield models_pb2.ModelChunk(offset=offset, data=data, total=total)
            offset += len(data)
            app.metrics.models.served_bytes.inc(len(data))
    finally:
        reader.close()  # the box may hang up mid-file: close the file now, not at GC

"""Storing model versions and signing keys: every check first, then one store write.

A push is a stream: a header (name, version, manifest entry, signature), then each file
(the ONNX model, then every reference frame the entry names) as a `PushFile` and its
data. The fleet refuses, naming the field, anything that does not fit: the entry's schema
(models/schema.py, the same the box uses), name/version differing from the entry, a
signature that no trusted key verifies, a file the entry does not name or announced with
another size, a file whose bytes do not hash to the entry's sha256, a file missing at the
end. Only then is the version row written; the files were already stored by content.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fleet.app import FleetApp, now_us
from fleet.errors import AlreadyExistsError, FleetError, InvalidRequestError
from fleet.models import share
from fleet.models.blobs import BlobStore, BlobWriter
from fleet.models.fetch import blob_store
from fleet.models.records import ModelVersion, SigningKeyRecord
from models.schema import (
    NAME_PATTERN,
    VERSION_PATTERN,
    ManifestEntry,
    ManifestSchemaError,
    canonical,
    parse_entry_text,
)
from models.signing import (
    SigningError,
    key_id,
    parse_public_key,
    verify_endorsement,
    verify_manifest,
)
from proto.oko.v1 import models_pb2

log = logging.getLogger(__name__)

MAX_PUSH_CHUNK = 1024 * 1024
MAX_KEY_NAME = 128


async def add_signing_key(
    app: FleetApp, request: models_pb2.AddSigningKeyRequest, actor: str
) -> SigningKeyRecord:
    """Trust a public key; an endorsement, if given, must verify with a trusted key."""
    try:
        raw = parse_public_key(request.public_key)
    except SigningError as err:
        raise InvalidRequestError(f"public_key: {err}") from err
    name = request.name.strip()
    if len(name) > MAX_KEY_NAME or not name.isprintable():
        raise InvalidRequestError(f"name: at most {MAX_KEY_NAME} printable characters")
    if request.endorsed_by:
        trusted = {k.key_id: k for k in await app.store.list_signing_keys()}
        endorser = trusted.get(request.endorsed_by)
        if endorser is None:
            raise InvalidRequestError(f"endorsed_by: key {request.endorsed_by!r} is not trusted")
        try:
            verify_endorsement(endorser.public_key, raw, request.endorsement)
        except SigningError as err:
            raise InvalidRequestError(f"endorsement: {err}") from err
    elif request.endorsement:
        raise InvalidRequestError("endorsement: given without endorsed_by")
    key = SigningKeyRecord(
        key_id=key_id(raw),
        public_key=raw,
        name=name,
        added_us=now_us(),
        added_by=actor,
        endorsed_by=request.endorsed_by,
        endorsement=bytes(request.endorsement),
    )
    await app.store.add_signing_key(key)
    await app.audit(actor, "model.key.add", key.key_id, f"{name} endorsed_by={key.endorsed_by}")
    log.info("%s added model-signing key %s (%r)", actor, key.key_id, name)
    return key


@dataclass
class _Push:
    """One push stream's state."""

    header: models_pb2.PushHeader
    entry: ManifestEntry
    manifest: str
    key_id: str
    expected: dict[str, int]  # sha256 -> size of every file the entry names
    received: set[str]
    current: BlobWriter | None = None


async def _check_header(app: FleetApp, header: models_pb2.PushHeader) -> _Push:
    if not re.match(NAME_PATTERN, header.name):
        raise InvalidRequestError(f"name: must match {NAME_PATTERN}")
    if not re.match(VERSION_PATTERN, header.version):
        raise InvalidRequestError(f"version: must match {VERSION_PATTERN}")
    try:
        entry = parse_entry_text(header.manifest, "manifest")
    except ManifestSchemaError as err:
        raise InvalidRequestError(str(err)) from err
    if (entry.name, entry.version) != (header.name, header.version):
        raise InvalidRequestError(
            f"manifest: describes {entry.name}@{entry.version}, "
            f"the push is {header.name}@{header.version}"
        )
    if entry.warmup is None:
        raise InvalidRequestError("manifest.warmup: reference frames are required")
    if await app.store.get_model_version(entry.name, entry.version) is not None:
        raise AlreadyExistsError(
            f"model {entry.name}@{entry.version} exists; versions are immutable, push a new one"
        )
    text = canonical(entry)
    signer = await _signer(app, text, header.signature)
    expected = {entry.sha256: entry.bytes}
    expected.update({f.sha256: f.bytes for f in entry.warmup.frames})
    return _Push(header, entry, text, signer, expected, set())


async def _signer(app: FleetApp, text: str, signature: bytes) -> str:
    """The id of the trusted key whose signature covers `text`; InvalidRequestError if none."""
    if not signature:
        raise InvalidRequestError("signature: required (okoctl model sign)")
    for key in await app.store.list_signing_keys():
        try:
            verify_manifest(key.public_key, text, signature)
        except SigningError:
            continue
        return key.key_id
    raise InvalidRequestError(
        "signature: no trusted signing key verifies it (okoctl model key list); "
        "wrong key, or the manifest changed after signing"
    )


def _start_file(push: _Push, blobs: BlobStore, file: models_pb2.PushFile) -> None:
    if push.current is not None:
        _finish_file(push)
    size = push.expected.get(file.sha256)
    if size is None:
        raise InvalidRequestError(f"file {file.sha256[:70]!r}: not named by the manifest")
    if file.sha256 in push.received:
        raise InvalidRequestError(f"file {file.sha256[:12]}: sent twice")
    if file.size != size:
        raise InvalidRequestError(
            f"file {file.sha256[:12]}: announced {file.size} bytes, the manifest says {size}"
        )
    push.current = blobs.writer(file.sha256, size)


def _finish_file(push: _Push) -> None:
    assert push.current is not None
    writer, push.current = push.current, None
    writer.commit()
    push.received.add(writer.sha256)


def _take(push: _Push, blobs: BlobStore, message: models_pb2.PushModelRequest) -> None:
    kind = message.WhichOneof("body")
    if kind == "file":
        _start_file(push, blobs, message.file)
    elif kind == "data":
        if push.current is None:
            raise InvalidRequestError("data before any file")
        if len(message.data) > MAX_PUSH_CHUNK:
            raise InvalidRequestError(f"data: chunks are at most {MAX_PUSH_CHUNK} bytes")
        push.current.write(message.data)
    else:
        raise InvalidRequestError(f"unexpected {kind!r} after the header")


async def _receive(app: FleetApp, requests: AsyncIterator[models_pb2.PushModelRequest]) -> _Push:
    stream = aiter(requests)
    first = await anext(stream, None)
    if first is None or first.WhichOneof("body") != "header":
        raise InvalidRequestError("the push must start with a header")
    push = await _check_header(app, first.header)
    blobs = blob_store(app)
    try:
        async for message in stream:
            _take(push, blobs, message)
        if push.current is not None:
            _finish_file(push)
    except BaseException:
        if push.current is not None:
            push.current.abort()
        raise
    missing = sorted(set(push.expected) - push.received)
    if missing:
        raise InvalidRequestError(f"files missing from the push: {[m[:12] for m in missing]}")
    return push


async def push_model(
    app: FleetApp, requests: AsyncIterator[models_pb2.PushModelRequest], actor: str
) -> ModelVersion:
    """Check and store one pushed version (see the module docstring)."""
    try:
        push = await _receive(app, requests)
    except FleetError:
        app.metrics.models.push_refused.inc()
        raise
    entry = push.entry
    assert entry.warmup is not None
    version = ModelVersion(
        name=entry.name,
        version=entry.version,
        sha256=entry.sha256,
        size=entry.bytes,
        manifest=push.manifest,
        signature=bytes(push.header.signature),
        key_id=push.key_id,
        pushed_us=now_us(),
        pushed_by=actor,
        frames=tuple(f.sha256 for f in entry.warmup.frames),
    )
    if app.store.shares_artifacts:  # every replica can serve it once the version exists
        for sha256 in sorted(push.received):
            await share.upload(app.store, blob_store(app), sha256)
    await app.store.add_model_version(version)
    app.metrics.models.pushed.inc()
    await app.audit(
        actor,
        "model.push",
        f"{version.name}@{version.version}",
        f"{version.sha256} {version.key_id}",
    )
    log.info(
        "%s pushed %s@%s (%d bytes, key %s)",
        actor,
        version.name,
        version.version,
        version.size,
        version.key_id,
    )
    return version

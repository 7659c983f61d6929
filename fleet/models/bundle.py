"""A model artifact on the operator's disk: ONNX file, manifest entry, signature, frames.

    nanodet-g.int8.onnx                  the model
    nanodet-g.int8.onnx.manifest.json    its manifest entry, with the warm-up section
    nanodet-g.int8.onnx.sig              detached Ed25519 signature (base64)
    <frame files>                        reference frames, beside the manifest, by name

`oko-agent model package` writes the first two and copies the frames; `okoctl model sign`
adds the signature offline (the private key never meets the fleet); `okoctl model push`
reads the lot and streams it. Everything is checked here before a byte is sent, so a
mistake is reported with the file at fault rather than as a refused push.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from models.schema import ManifestEntry, ManifestSchemaError, canonical, parse_entry_text
from models.signing import SigningError, load_private_key, sign_manifest
from proto.oko.v1 import models_pb2

CHUNK_BYTES = 1024 * 1024
Progress = Callable[[int, int], None]  # (bytes sent, bytes in all)


def manifest_path(model: Path) -> Path:
    """Default manifest file of a model file."""
    return model.with_name(model.name + ".manifest.json")


def signature_path(model: Path) -> Path:
    """Default signature file of a model file."""
    return model.with_name(model.name + ".sig")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def read_entry(path: Path) -> ManifestEntry:
    """The manifest entry in `path`; ValueError naming the file and field."""
    try:
        return parse_entry_text(path.read_bytes(), str(path))
    except OSError as err:
        raise ValueError(f"{path}: {err.strerror}") from err
    except ManifestSchemaError as err:
        raise ValueError(str(err)) from err


def check_model_file(model: Path, entry: ManifestEntry, where: Path) -> None:
    """The file must be the one the entry describes (size and sha256)."""
    try:
        size = model.stat().st_size
    except OSError as err:
        raise ValueError(f"{model}: {err.strerror}") from err
    if size != entry.bytes:
        raise ValueError(f"{where}: bytes is {entry.bytes}, {model} has {size}")
    digest = _sha256(model)
    if digest != entry.sha256:
        raise ValueError(f"{where}: sha256 is {entry.sha256}, {model} is {digest}")


def sign(model: Path, manifest: Path, key: Path, passphrase: bytes | None = None) -> bytes:
    """Check the entry describes `model`, then sign it with the private key file `key`."""
    entry = read_entry(manifest)
    check_model_file(model, entry, manifest)
    try:
        return sign_manifest(load_private_key(key, passphrase), canonical(entry))
    except SigningError as err:
        raise ValueError(str(err)) from err


def read_signature(path: Path) -> bytes:
    """A signature file: base64 text (what `sign` writes) or the raw 64 bytes."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"{path}: {err.strerror}") from err
    if len(data) == 64:
        return data
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"{path}: not a base64 signature") from err
    if len(raw) != 64:
        raise ValueError(f"{path}: {len(raw)} bytes, an Ed25519 signature has 64")
    return raw


@dataclass(frozen=True)
class Bundle:
    """Everything one push sends, checked against the entry."""

    name: str
    version: str
    entry: ManifestEntry
    signature: bytes
    files: tuple[tuple[str, Path], ...]  # (sha256, path): the model first, then frames

    @property
    def total_bytes(self) -> int:
        """What the push will upload."""
        return sum(path.stat().st_size for _, path in self.files)


def _frame_file(directory: Path, sha256: str, name: str) -> Path:
    for candidate in (directory / name if name else None, directory / sha256):
        if candidate is not None and candidate.is_file() and _sha256(candidate) == sha256:
            return candidate
    raise ValueError(
        f"reference frame {name or sha256}: not found in {directory} (by name or sha256)"
    )


def read_bundle(
    model: Path,
    name: str,
    version: str,
    manifest: Path | None = None,
    signature: Path | None = None,
) -> Bundle:
    """Read and check a bundle for `okoctl model push` (defaults: files beside `model`)."""
    manifest = manifest or manifest_path(model)
    entry = read_entry(manifest)
    if (entry.name, entry.version) != (name, version):
        raise ValueError(
            f"{manifest}: describes {entry.name}@{entry.version}, not {name}@{version}"
        )
    check_model_file(model, entry, manifest)
    if entry.warmup is None:
        raise ValueError(f"{manifest}: no warmup section (make it with `oko-agent model package`)")
    files = [(entry.sha256, model)]
    files += [
        (f.sha256, _frame_file(manifest.parent, f.sha256, f.name)) for f in entry.warmup.frames
    ]
    return Bundle(
        name, version, entry, read_signature(signature or signature_path(model)), tuple(files)
    )


def push_requests(
    bundle: Bundle, progress: Progress | None = None
) -> Iterator[models_pb2.PushModelRequest]:
    """The PushModel stream: header, then each file announced and sent in 1 MiB chunks."""
    yield models_pb2.PushModelRequest(
        header=models_pb2.PushHeader(
            name=bundle.name,
            version=bundle.version,
            manifest=canonical(bundle.entry),
            signature=bundle.signature,
        )
    )
    total, sent = bundle.total_bytes, 0
    for sha256, path in bundle.files:
        size = path.stat().st_size
        yield models_pb2.PushModelRequest(file=models_pb2.PushFile(sha256=sha256, size=size))
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                sent += len(chunk)
                if progress is not None:
                    progress(sent, total)
                yield models_pb2.PushModelRequest(data=chunk)

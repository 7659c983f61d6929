"""Real signed model artifacts for tests: package, sign, trust, push - the operator's steps.

The same library functions `oko-agent model package`, `okoctl model sign` and `okoctl
model push` are thin layers over, so what tests push is exactly what an operator would.
The shipped `nanodet-g` INT8 and FP32 files serve as two versions of one model (same
labels and decoder, different bytes and numbers), and `tests.support.broken_models` makes
the variants that must be refused or caught by a quality gate.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2

from agent.models_update.package import package
from fleet.models import bundle
from models import MODELS_DIR
from models.signing import (
    endorse,
    generate_private_key,
    key_id,
    load_private_key,
    parse_public_key,
    public_pem,
)
from proto import transport
from proto.oko.v1 import models_pb2, models_pb2_grpc
from tests.support.fleet import FleetHandle
from tests.support.media import VTEST

INT8 = MODELS_DIR / "nanodet-g.int8.onnx"
FP32 = MODELS_DIR / "nanodet-g.fp32.onnx"
REFERENCE_FRAMES = (260, 300, 520)  # people and parked cars in view


@dataclass(frozen=True)
class SigningKey:
    """A key pair on disk, as `okoctl model key generate` leaves it."""

    private: Path
    public: Path
    key_id: str


def make_key(directory: Path, name: str = "signing") -> SigningKey:
    """A new Ed25519 key pair under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    private, raw = generate_private_key()
    path = directory / f"{name}.pem"
    path.write_bytes(private)
    path.chmod(0o600)
    pub = directory / f"{name}.pem.pub"
    pub.write_bytes(public_pem(raw))
    return SigningKey(path, pub, key_id(raw))


def reference_frames(directory: Path, numbers: tuple[int, ...] = REFERENCE_FRAMES) -> list[Path]:
    """Frames of vtest.avi as JPEG files (what an operator would pick from a camera)."""
    directory.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(str(VTEST))
    out = []
    try:
        for number in numbers:
            capture.set(cv2.CAP_PROP_POS_FRAMES, number)
            ok, image = capture.read()
            assert ok, f"vtest.avi frame {number}"
            path = directory / f"vtest-{number}.jpg"
            cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
            out.append(path)
    finally:
        capture.release()
    return out


def packaged(
    model: Path,
    name: str,
    version: str,
    *,
    frames: list[Path],
    out: Path,
    key: SigningKey,
    manifest_entry: Path | None = None,
    like: str = "",
) -> Path:
    """Package and sign `model` into `out`; returns the model's path there.

    The entry starts from the shipped nanodet-g entry of the file's precision (`like`).
    """
    like = like or ("nanodet-g:fp32" if "fp32" in model.name else "nanodet-g:int8")
    manifest = package(
        model,
        name=name,
        version=version,
        frames=frames,
        out=out,
        manifest=manifest_entry,
        like=like,
    )
    target = out / model.name
    signature = bundle.sign(target, manifest, key.private)
    bundle.signature_path(target).write_bytes(base64.b64encode(signature) + b"\n")
    return target


def _stub(fleet: FleetHandle) -> models_pb2_grpc.ModelServiceStub:
    return models_pb2_grpc.ModelServiceStub(fleet.channel())


def trust(
    fleet: FleetHandle,
    key: SigningKey,
    name: str = "test key",
    endorsed_with: SigningKey | None = None,
) -> models_pb2.SigningKey:
    """`okoctl model key add` for `key` (`--endorse-with` the older key, for rotation)."""
    request = models_pb2.AddSigningKeyRequest(public_key=key.public.read_bytes(), name=name)
    if endorsed_with is not None:
        old = load_private_key(endorsed_with.private)
        request.endorsed_by = endorsed_with.key_id
        request.endorsement = endorse(old, parse_public_key(key.public.read_bytes()))
    return _stub(fleet).AddSigningKey(
        request, metadata=transport.bearer_metadata(fleet.admin_token), timeout=30
    )


def push(fleet: FleetHandle, model: Path, name: str, version: str) -> models_pb2.ModelInfo:
    """`okoctl model push` of a packaged, signed model."""
    found = bundle.read_bundle(model, name, version)
    return _stub(fleet).PushModel(
        bundle.push_requests(found),
        metadata=transport.bearer_metadata(fleet.admin_token),
        timeout=120,
    )


def assign(
    fleet: FleetHandle, device_ids: list[str], name: str, version: str
) -> models_pb2.AssignModelResponse:
    """`okoctl model assign NAME@VERSION DEVICE...`."""
    request = models_pb2.AssignModelRequest(device_ids=device_ids, name=name, version=version)
    return _stub(fleet).AssignModel(
        request, metadata=transport.bearer_metadata(fleet.admin_token), timeout=30
    )


def status(fleet: FleetHandle, device_id: str) -> models_pb2.ModelSlotStatus:
    """`okoctl model status DEVICE` (the detector slot)."""
    reply = _stub(fleet).GetModelStatus(
        models_pb2.GetModelStatusRequest(device_id=device_id),
        metadata=transport.bearer_metadata(fleet.admin_token),
        timeout=30,
    )
    return reply.slots[0]


def repackaged(
    base_manifest: Path, model: Path, version: str, *, out: Path, key: SigningKey
) -> Path:
    """`model` under `base_manifest`'s entry (warm-up and all), as `version`, signed.

    For artifacts the packager could not have recorded a warm-up for (a wrong input shape)
    or whose warm-up is deliberately another model's (a model that sees nothing).
    """
    entry = json.loads(base_manifest.read_text())
    out.mkdir(parents=True, exist_ok=True)
    target = out / model.name
    shutil.copyfile(model, target)
    for frame in entry["warmup"]["frames"]:
        shutil.copyfile(base_manifest.parent / frame["name"], out / frame["name"])
    entry.update(
        version=version,
        file=target.name,
        sha256=hashlib.sha256(target.read_bytes()).hexdigest(),
        bytes=target.stat().st_size,
    )
    manifest = bundle.manifest_path(target)
    manifest.write_text(json.dumps(entry, indent=2))
    signature = bundle.sign(target, manifest, key.private)
    bundle.signature_path(target).write_bytes(base64.b64encode(signature) + b"\n")
    return target

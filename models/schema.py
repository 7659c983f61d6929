"""The schema of one model manifest entry, shared by the box, the fleet and okoctl. Pure.

One entry of `models/manifest.json` describes a shipped model; the same entry, pushed to
the fleet with an ONNX file, describes a model version of the registry. Both are checked
here with the same pydantic models (unknown fields refused, every field bounded), so a
pushed model is described exactly like a shipped one and nothing a box would refuse to
load gets stored by the fleet.

A pushed entry also carries `warmup`: reference frames (by sha256; the images travel beside
the model) with the detections the model made on them when it was packaged, and the
tolerance within which a box must reproduce them before it swaps the model in.

`canonical` is the one serialisation that is signed and sent: sorted keys, no spaces,
after validation, so the signer, the fleet and the box all hash the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
MAX_MODEL_BYTES = 512 * 1024 * 1024
MAX_FRAME_BYTES = 4 * 1024 * 1024
MAX_FRAMES = 16
MAX_EXPECTED = 300
MAX_LABELS = 1000
MAX_TEXT = 4000
MODEL_CONTEXT = b"oko-model-v1\n"  # domain separation of the signed digest

Sha256 = Annotated[str, Field(pattern=SHA256_PATTERN, description="Lower-case hex SHA-256.")]
Label = Annotated[str, Field(min_length=1, max_length=64)]


class ManifestSchemaError(ValueError):
    """A manifest entry does not fit the schema; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    """How to feed the model: tensor name, nominal shape, layout and normalisation."""

    name: str = Field(min_length=1, max_length=128, description="Input tensor name.")
    shape: tuple[int, int, int, int] = Field(description="Nominal N, C/H, H/W, W/C shape.")
    layout: Literal["NCHW", "NHWC"] = Field(default="NCHW", description="Tensor layout.")
    dynamic_batch: bool = Field(default=False, description="Whether N may exceed 1.")
    color: Literal["RGB", "BGR"] = Field(default="RGB", description="Channel order.")
    mean: tuple[float, float, float] = Field(default=(0.0, 0.0, 0.0), description="Subtracted.")
    std: tuple[float, float, float] = Field(default=(1.0, 1.0, 1.0), description="Divided by.")
    resize: Literal["stretch", "letterbox"] = Field(default="stretch", description="Resizing.")

    @field_validator("shape")
    @classmethod
    def _positive(cls, shape: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        if any(not 1 <= d <= 8192 for d in shape):
            raise ValueError("every dimension must be 1..8192")
        return shape

    @field_validator("std")
    @classmethod
    def _nonzero(cls, std: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(v == 0 for v in std):
            raise ValueError("std must not contain 0")
        return std


class Upstream(_Strict):
    """Where the weights come from and under which licence."""

    licence: str = Field(min_length=1, max_length=MAX_TEXT, description="Licence of the weights.")
    package: str = Field(default="", max_length=512, description="Package it came in.")
    package_sha256: str = Field(default="", max_length=64, description="That package's sha256.")
    path: str = Field(default="", max_length=512, description="Path inside the package.")
    member_sha256: str = Field(default="", max_length=64, description="The member's sha256.")
    project: str = Field(default="", max_length=512, description="Upstream project.")
    generated_by: str = Field(default="", max_length=512, description="Upstream origin URL.")
    licence_text_head: str = Field(default="", max_length=MAX_TEXT, description="Licence start.")


class ExpectedDetection(_Strict):
    """One detection the model made on a reference frame when it was packaged."""

    label: Label
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in frame pixels.")
    score: float = Field(ge=0.0, le=1.0, description="Confidence.")


class ReferenceFrame(_Strict):
    """A frame shipped with the model (by content) and what the model found in it."""

    sha256: Sha256
    bytes: int = Field(ge=1, le=MAX_FRAME_BYTES, description="Size of the image file.")
    name: str = Field(default="", max_length=128, description="Original file name.")
    expected: tuple[ExpectedDetection, ...] = Field(
        default=(), max_length=MAX_EXPECTED, description="Detections at the score threshold."
    )


class Tolerance(_Strict):
    """How closely a box must reproduce the expected detections.

    An expected detection is matched by a found one of the same label with IoU >= `iou`
    and a score within `score`; warm-up passes when at least `min_match` of the expected
    detections are matched and at least `min_match` of the found ones match one (a model
    that suddenly sees nothing, or everything, fails).
    """

    iou: float = Field(default=0.5, gt=0.0, le=1.0, description="Least IoU of a match.")
    score: float = Field(default=0.15, ge=0.0, le=1.0, description="Largest score change.")
    min_match: float = Field(default=0.8, ge=0.0, le=1.0, description="Least matched share.")


class Warmup(_Strict):
    """Reference frames and the tolerance a box checks a new model against before a swap."""

    frames: tuple[ReferenceFrame, ...] = Field(min_length=1, max_length=MAX_FRAMES)
    tolerance: Tolerance = Field(default_factory=Tolerance)
    score_threshold: float = Field(
        ge=0.0, le=1.0, description="Detector threshold the expected detections were made at."
    )


class ManifestEntry(_Strict):
    """One model file: what it is, how to feed it, how to decode it, its labels and licence."""

    name: str = Field(pattern=NAME_PATTERN, description="Model name, e.g. nanodet-g.")
    aliases: tuple[str, ...] = Field(default=(), max_length=16, description="Former names.")
    task: Literal["object-detection", "face-detection", "face-embedding"]
    version: str = Field(pattern=VERSION_PATTERN, description="Version string.")
    precision: Literal["int8", "fp16", "fp32"]
    file: str = Field(default="", max_length=255, description="File name beside the manifest.")
    sha256: Sha256
    bytes: int = Field(ge=1, le=MAX_MODEL_BYTES, description="Size of the ONNX file.")
    input: InputSpec
    outputs: tuple[str, ...] = Field(min_length=1, max_length=64, description="Output names.")
    decoder: dict[str, Any] = Field(description="Output decoding; `kind` names the decoder.")
    labels: tuple[Label, ...] = Field(default=(), max_length=MAX_LABELS)
    defaults: dict[str, float] = Field(default_factory=dict, description="Default thresholds.")
    upstream: Upstream
    notes: str = Field(default="", max_length=MAX_TEXT)
    quantization: dict[str, Any] | None = Field(default=None, description="How it was quantised.")
    warmup: Warmup | None = Field(default=None, description="Reference frames (pushed models).")

    @field_validator("decoder")
    @classmethod
    def _kind(cls, decoder: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(decoder.get("kind"), str) or not decoder["kind"]:
            raise ValueError("decoder.kind must name the decoder")
        if len(json.dumps(decoder)) > 16 * 1024:
            raise ValueError("decoder is larger than 16 KiB")
        return decoder

    @field_validator("aliases")
    @classmethod
    def _alias_names(cls, aliases: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in aliases if not re.match(NAME_PATTERN, a)]
        if bad:
            raise ValueError(f"{bad} do not match {NAME_PATTERN}")
        return aliases


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "entry"


def parse_entry(data: object, source: str = "manifest") -> ManifestEntry:
    """Validate a decoded entry; `ManifestSchemaError` names the first bad field."""
    try:
        return ManifestEntry.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        raise ManifestSchemaError(f"{source}: {_where(first['loc'])}: {first['msg']}") from None


def parse_entry_text(text: str | bytes, source: str = "manifest") -> ManifestEntry:
    """JSON text of one entry -> `ManifestEntry`, every failure a `ManifestSchemaError`."""
    if len(text) > 1024 * 1024:
        raise ManifestSchemaError(f"{source}: larger than 1 MiB")
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        raise ManifestSchemaError(f"{source}: not JSON: {err}") from None
    return parse_entry(data, source)


def canonical(entry: ManifestEntry) -> str:
    """The entry as signed and sent: validated, sorted keys, no spaces, unset fields out."""
    data = entry.model_dump(mode="json", exclude_none=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def signed_digest(manifest_text: str) -> bytes:
    """The 32 bytes a model signature covers: sha256 over a context string and the entry.

    The entry holds the ONNX file's sha256 and every reference frame's, so this one digest
    binds the model, its description and its warm-up data together.
    """
    return hashlib.sha256(MODEL_CONTEXT + manifest_text.encode("utf-8")).digest()

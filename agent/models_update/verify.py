"""Checks of a downloaded artifact before anything loads it, each refusal naming why.

Order: the manifest entry parses (schema), its signature verifies with a pinned key, the
file has the size and sha256 the signed entry records (so a tampered or truncated file is
caught even when the fleet itself was tampered with), and the ONNX graph's input and
outputs have the shapes the entry describes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from agent.errors import ModelError
from agent.inference.manifest import file_sha256
from models.schema import ManifestEntry, ManifestSchemaError, parse_entry_text
from models.signing import SigningError, verify_manifest


class ArtifactRefusedError(ModelError):
    """An artifact failed a check; the running model stays. The message is the reason."""


def check_entry(
    manifest: str, signature: bytes, key_id: str, pinned: Mapping[str, bytes]
) -> ManifestEntry:
    """The signed entry, if it parses and its signature is by a pinned key."""
    try:
        entry = parse_entry_text(manifest, "manifest")
    except ManifestSchemaError as err:
        raise ArtifactRefusedError(str(err)) from err
    if not signature:
        raise ArtifactRefusedError("unsigned: the artifact carries no signature")
    if not pinned:
        raise ArtifactRefusedError(
            "no model-signing key is pinned on this box (enrolled before keys existed?): "
            "re-enroll it to pin the fleet's keys"
        )
    raw = pinned.get(key_id)
    if raw is None:
        raise ArtifactRefusedError(
            f"signed by key {key_id[:16]!r}, which this box does not trust "
            f"(pinned: {', '.join(sorted(pinned))})"
        )
    try:
        verify_manifest(raw, manifest, signature)
    except SigningError as err:
        raise ArtifactRefusedError(f"{err}: tampered manifest or wrong key") from err
    return entry


def check_file(path: Path, sha256: str, size: int) -> None:
    """Refuse a file that is not exactly the signed size and digest."""
    have = path.stat().st_size
    if have < size:
        raise ArtifactRefusedError(f"truncated: {have} of {size} bytes")
    if have > size:
        raise ArtifactRefusedError(f"{have} bytes where the signed entry says {size}")
    digest = file_sha256(path)
    if digest != sha256:
        raise ArtifactRefusedError(
            f"sha256 mismatch: the file is {digest}, the signed entry says {sha256} (tampered)"
        )


def _fits(actual: Sequence[object], wanted: Sequence[int], skip_batch: bool) -> bool:
    if len(actual) != len(wanted):
        return False
    for i, (have, want) in enumerate(zip(actual, wanted, strict=True)):
        if (i == 0 and skip_batch) or not isinstance(have, int):
            continue  # a symbolic dimension (batch, or any size) accepts the nominal one
        if have != want:
            return False
    return True


def _expected_outputs(entry: ManifestEntry) -> dict[str, list[int]]:
    """Output shapes the decoder implies (nanodet: cells x classes, cells x 4 bins)."""
    decoder = entry.decoder
    if decoder.get("kind") != "nanodet":
        return {}
    classes = int(decoder.get("num_classes", len(entry.labels) or 80))
    bins = 4 * (int(decoder.get("reg_max", 10)) + 1)
    out: dict[str, list[int]] = {}
    for (cls_name, reg_name), (gh, gw) in zip(
        decoder.get("output_pairs", []), decoder.get("grids", []), strict=False
    ):
        out[cls_name] = [1, int(gh) * int(gw), classes]
        out[reg_name] = [1, int(gh) * int(gw), bins]
    return out


def check_shapes(path: Path, entry: ManifestEntry) -> None:
    """Refuse an ONNX file whose input or outputs do not match the entry."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's own exception types
        raise ArtifactRefusedError(f"not a loadable ONNX model: {err}") from err
    inputs = {i.name: i.shape for i in session.get_inputs()}
    want = entry.input
    if want.name not in inputs:
        raise ArtifactRefusedError(f"input {want.name!r} not in the model (has {sorted(inputs)})")
    if not _fits(inputs[want.name], want.shape, want.dynamic_batch):
        raise ArtifactRefusedError(
            f"wrong shape: input {want.name} is {inputs[want.name]}, "
            f"the manifest says {list(want.shape)}"
        )
    outputs = {o.name: o.shape for o in session.get_outputs()}
    missing = [name for name in entry.outputs if name not in outputs]
    if missing:
        raise ArtifactRefusedError(f"outputs {missing} not in the model (has {sorted(outputs)})")
    for name, shape in _expected_outputs(entry).items():
        if name in outputs and not _fits(outputs[name], shape, True):
            raise ArtifactRefusedError(
                f"wrong shape: output {name} is {outputs[name]}, the decoder needs {shape}"
            )

"""A box refuses every bad artifact with the reason, and its running model keeps running.

One real box process, one real fleet process. The fleet checks what is pushed to it, so
the bad artifacts are made the way they would reach a box in real life: files damaged on
the fleet's disk after the push (tampered, truncated), a signature removed from the
fleet's store (a compromised fleet), a key the fleet trusts but the box never pinned,
a signed entry describing another input size than the file, and a model that sees
nothing. After each refusal the box still runs and stamps nanodet-g 1.0.0. Finally a new
key endorsed by the pinned one (rotation) is accepted.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from proto.oko.v1 import models_pb2
from tests.models.boxes import BoxProcess, enrolled_box
from tests.models.helpers import device_id, settled, versions_in_order
from tests.support.broken_models import distinct_copy, reshaped_input, zeroed_outputs
from tests.support.fleet import FleetCli, FleetHandle
from tests.support.model_artifacts import (
    FP32,
    INT8,
    SigningKey,
    assign,
    make_key,
    packaged,
    push,
    repackaged,
    trust,
)
from tests.support.net import wait_until

V1 = "1.0.0"
FP32_LIKE = "nanodet-g:fp32"


def _blob(cli: FleetCli, sha256: str) -> Path:
    return cli.data_dir / "models" / "blobs" / sha256[:2] / sha256


def _refused(fleet: FleetHandle, device: str, version: str, reason: str) -> None:
    reply = assign(fleet, [device], "nanodet-g", version)
    slot = settled(fleet, device, reply.assignments[0].assignment_id)
    assert slot.state == "failed", (version, slot.state)
    assert reason in slot.report.error, (version, slot.report.error)
    assert slot.report.running.version == V1 and slot.report.attempted.version == version
    before = len(versions_in_order(fleet))
    wait_until(lambda: len(versions_in_order(fleet)) > before, 120, "events after a refusal")
    assert versions_in_order(fleet)[before:] and set(versions_in_order(fleet)) == {V1}


def _variant(
    fleet: FleetHandle, tmp: Path, version: str, key: SigningKey, frames: list[Path]
) -> models_pb2.ModelInfo:
    """A distinct copy of the FP32 file, packaged, signed and pushed as `version`."""
    tmp.mkdir(parents=True, exist_ok=True)
    copy = distinct_copy(FP32, tmp / f"{version}.onnx", version)
    out = tmp / version
    model = packaged(copy, "nanodet-g", version, frames=frames, out=out, key=key, like=FP32_LIKE)
    return push(fleet, model, "nanodet-g", version)


def test_bad_artifacts_are_refused_with_the_reason_and_the_model_keeps_running(
    fleet_cli: FleetCli,
    fleet: FleetHandle,
    *,
    key: SigningKey,
    frames: list[Path],
    fp32_v2: Path,
    long_clip: Path,
    tmp_path: Path,
) -> None:
    box = BoxProcess(enrolled_box(fleet, tmp_path / "box", long_clip)).start()
    device = device_id(tmp_path / "box")
    made = tmp_path / "made"
    try:
        wait_until(lambda: V1 in versions_in_order(fleet), 120, "events from the shipped model")

        tampered = _variant(fleet, made, "3.0.0-tampered", key, frames)
        with _blob(fleet_cli, tampered.sha256).open("r+b") as blob:
            blob.seek(tampered.size // 2)
            blob.write(b"\xff" * 64)
        _refused(fleet, device, "3.0.0-tampered", "sha256 mismatch")

        truncated = _variant(fleet, made, "3.0.0-truncated", key, frames)
        with _blob(fleet_cli, truncated.sha256).open("r+b") as blob:
            blob.truncate(truncated.size // 2)
        _refused(fleet, device, "3.0.0-truncated", "truncated")

        _variant(fleet, made, "3.0.0-unsigned", key, frames)
        with sqlite3.connect(fleet_cli.data_dir / "fleet.db") as db:
            db.execute("UPDATE model_versions SET signature = x'' WHERE version = '3.0.0-unsigned'")
        _refused(fleet, device, "3.0.0-unsigned", "unsigned")

        other = make_key(tmp_path / "keys", "other")
        trust(fleet, other, "added after the box enrolled, not endorsed")
        _variant(fleet, made, "3.0.0-otherkey", other, frames)
        _refused(fleet, device, "3.0.0-otherkey", f"signed by key '{other.key_id}'")

        base = fp32_v2.parent / (fp32_v2.name + ".manifest.json")
        small = reshaped_input(INT8, made / "nanodet-g-320.onnx", 320, 320)  # file says 320
        shape = repackaged(base, small, "3.0.0-shape", out=made / "shape", key=key)
        push(fleet, shape, "nanodet-g", "3.0.0-shape")
        _refused(fleet, device, "3.0.0-shape", "wrong shape: input images")

        blind = zeroed_outputs(FP32, made / "nanodet-g-blind.onnx")
        blind = repackaged(base, blind, "3.0.0-blind", out=made / "blind", key=key)
        push(fleet, blind, "nanodet-g", "3.0.0-blind")
        _refused(fleet, device, "3.0.0-blind", "warm-up failed: matched 0/")

        assert box.metric("oko_agent_model_refused_total") == 6
        assert box.metric("oko_agent_model_swaps_total") == 0
        assert box.health()["inference"]["alive"]

        # Rotation: a new key endorsed by the pinned one is trusted by this box from now on.
        rotated = make_key(tmp_path / "keys", "rotated")
        trust(fleet, rotated, "2026 release key", endorsed_with=key)
        _variant(fleet, made, "3.1.0", rotated, frames)
        reply = assign(fleet, [device], "nanodet-g", "3.1.0")
        slot = settled(fleet, device, reply.assignments[0].assignment_id)
        assert slot.state == "running", slot.report.error
        pinned = json.loads((box.data_dir / "identity" / "model-signing-keys.json").read_text())
        ids = {k["key_id"] for k in pinned["keys"]}
        assert ids == {key.key_id, rotated.key_id} and other.key_id not in ids
        wait_until(lambda: "3.1.0" in versions_in_order(fleet), 120, "events from 3.1.0")
    finally:
        box.stop()

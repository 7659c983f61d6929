"""The shipped models match their manifest, and NanoDet's raw outputs make sense on real video.

Decoding belongs to agent/detect; here we only check facts the manifest promises: files are
the bytes recorded, shapes and output order are as described, the batch is dynamic, both
ONNX Runtime and OpenVINO load the graphs, and INT8 tracks FP32 on a real frame.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from models import MANIFEST_PATH, MODELS_DIR

DATA = Path(__file__).parent / "data"
MANIFEST = json.loads(MANIFEST_PATH.read_text())
ENTRIES = MANIFEST["models"]
IDS = [f"{e['name']}.{e['precision']}" for e in ENTRIES]
REQUIRED = {
    "name",
    "task",
    "version",
    "precision",
    "file",
    "sha256",
    "bytes",
    "input",
    "outputs",
    "decoder",
    "labels",
    "defaults",
    "upstream",
}


def _session(entry: dict) -> ort.InferenceSession:
    return ort.InferenceSession(str(MODELS_DIR / entry["file"]), providers=["CPUExecutionProvider"])


def _entry(name: str, precision: str) -> dict:
    return next(e for e in ENTRIES if e["name"] == name and e["precision"] == precision)


def _frame(index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(DATA / "vtest.avi"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok, "vtest.avi frame unreadable"
    return frame


def _nanodet_input(frame: np.ndarray, entry: dict) -> np.ndarray:
    spec = entry["input"]
    height, width = spec["shape"][2:]
    pixels = cv2.resize(frame, (width, height)).astype(np.float32)
    x = (pixels - np.float32(spec["mean"])) / np.float32(spec["std"])
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def test_manifest_schema_and_totals() -> None:
    assert MANIFEST["schema_version"] == 1
    names = {e["name"] for e in ENTRIES}
    assert "nanodet-g" in names
    for entry in ENTRIES:
        assert entry.keys() >= REQUIRED, f"{entry['name']} lacks {REQUIRED - entry.keys()}"
        assert entry["precision"] in {"fp32", "int8"}
        assert entry["upstream"]["licence"], f"{entry['name']} has no licence"
    total = sum((MODELS_DIR / e["file"]).stat().st_size for e in ENTRIES)
    assert total < 45 * 2**20, f"shipped models total {total} bytes"


def test_the_former_detector_name_still_loads_the_same_model() -> None:
    """'nanodet-m' was NanoDet-g's name until issue 12; configs that say so keep working."""
    from agent.inference.manifest import load_manifest

    manifest = load_manifest(MODELS_DIR / "manifest.json")
    for precision in ("fp32", "int8"):
        old, new = manifest.get("nanodet-m", precision), manifest.get("nanodet-g", precision)
        assert old == new and old.name == "nanodet-g" and "nanodet-m" in old.aliases
    assert manifest.best("nanodet-m") == manifest.best("nanodet-g")
    assert "nanodet-m" not in manifest.names()


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_file_matches_sha256_and_size(entry: dict) -> None:
    data = (MODELS_DIR / entry["file"]).read_bytes()
    assert len(data) == entry["bytes"]
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_graph_io_matches_manifest(entry: dict) -> None:
    session = _session(entry)
    (model_input,) = session.get_inputs()
    assert model_input.name == entry["input"]["name"]
    if entry["decoder"].get("dynamic_hw_multiple"):  # free height/width: the shape is a default
        assert model_input.shape[1] == entry["input"]["shape"][1]
        assert all(isinstance(d, str) for d in model_input.shape[2:]), "H, W should be symbolic"
    else:
        assert list(model_input.shape[1:]) == entry["input"]["shape"][1:]
    if entry["input"]["dynamic_batch"]:
        assert not isinstance(model_input.shape[0], int), "batch dimension should be symbolic"
    assert [o.name for o in session.get_outputs()] == entry["outputs"]


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_nanodet_batch_of_two_frames_equals_single_runs(precision: str) -> None:
    entry = _entry("nanodet-g", precision)
    session = _session(entry)
    batch = np.concatenate([_nanodet_input(_frame(i), entry) for i in (100, 300)])
    together = session.run(None, {entry["input"]["name"]: batch})
    for k in range(2):
        alone = session.run(None, {entry["input"]["name"]: batch[k : k + 1]})
        for a, b in zip(together, alone, strict=True):
            np.testing.assert_allclose(a[k : k + 1], b, atol=1e-3)


def test_nanodet_sees_people_in_real_frame_and_int8_agrees() -> None:
    """Frame 300 shows six walkers: the person channel must fire in FP32 and INT8 alike."""
    frame = _frame(300)
    scores = {}
    for precision in ("fp32", "int8"):
        entry = _entry("nanodet-g", precision)
        outs = _session(entry).run(None, {entry["input"]["name"]: _nanodet_input(frame, entry)})
        cls = np.concatenate([outs[0][0], outs[2][0], outs[4][0]])
        assert cls.shape[1] == len(entry["labels"]) == 80
        assert entry["labels"][0] == "person"
        scores[precision] = cls[:, 0]
    fp32, int8 = scores["fp32"], scores["int8"]
    assert (fp32 > 0.5).sum() >= 6, "FP32 should fire on the six walkers"
    confident = fp32 > 0.5
    assert (int8[confident] > 0.35).mean() > 0.8
    assert np.corrcoef(fp32, int8)[0, 1] > 0.95


def test_openvino_compiles_shipped_graphs() -> None:
    """OpenVINO refused the raw conversion (ScatterND); the shipped files must compile."""
    ov = pytest.importorskip("openvino")
    core = ov.Core()
    for entry in ENTRIES:
        compiled = core.compile_model(core.read_model(str(MODELS_DIR / entry["file"])), "CPU")
        shape = [2 if entry["input"]["dynamic_batch"] else 1, *entry["input"]["shape"][1:]]
        result = compiled(np.zeros(shape, np.float32))
        assert len(result) == len(entry["outputs"])

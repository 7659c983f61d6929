"""The optional YOLOv5s, built for real (see conftest.py), on the hand-labelled vtest frames.

Run: `.venv/bin/pytest -m extra_models tests/extra_models` (builds the model if absent).
Ground truth: tests/data/labels/vtest_boxes.json; persons scored at IoU 0.5 with VOC's rule
for `difficult` boxes, as tests/accuracy does for NanoDet-g.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agent.detect.evaluation import (
    LabelledFrame,
    detect_all,
    load_labelled_frames,
    precision_agreement,
    score_class,
    shrunk,
)
from agent.detect.object_detector import ObjectDetector
from agent.detections import Detections
from agent.errors import ModelError, ModelIntegrityError
from agent.inference.backend import available_backends, load_model
from agent.inference.manifest import load_manifest
from models.schema import parse_entry

pytestmark = pytest.mark.extra_models

REPO = Path(__file__).resolve().parents[2]
LABELS = REPO / "tests/data/labels/vtest_boxes.json"
MODEL = "yolov5s"
PACKAGE_SHA256 = "09c0c33c73012c96fe317687bd7dde0339367ea29e8bc860afceceab2f0f5f74"
MARGIN = 0.05


@pytest.fixture(scope="module")
def labelled() -> list[LabelledFrame]:
    frames = load_labelled_frames(LABELS)
    assert len(frames) >= 20
    return frames


@pytest.fixture(scope="module")
def predictions(
    extra_manifest: Path, labelled: list[LabelledFrame]
) -> dict[tuple[str, str, str], list[Detections]]:
    """(backend, precision, full|third) -> detections at the shipped threshold minus MARGIN."""
    out = {}
    third = shrunk(labelled, 1 / 3)
    for backend in available_backends():
        for precision in ("fp32", "int8"):
            model = load_model(MODEL, precision, backend, threads=2)
            cut = float(model.spec.defaults["score_threshold"]) - MARGIN
            detector = ObjectDetector(model, score_threshold=cut)
            out[(backend, precision, "full")] = detect_all(detector.detect, labelled)
            out[(backend, precision, "third")] = detect_all(detector.detect, third)
    return out


def _threshold() -> float:
    return float(load_manifest().get(MODEL, "fp32").defaults["score_threshold"])


def _at(dets: list[Detections], threshold: float) -> list[Detections]:
    return [d[d.confidence >= threshold] for d in dets]


def test_both_backends_are_installed() -> None:
    assert available_backends() == ["onnxruntime", "openvino"]


def test_manifest_entries_validate_and_record_licence_and_source(extra_manifest: Path) -> None:
    doc = json.loads(extra_manifest.read_text())
    entries = {e["precision"]: e for e in doc["models"] if e["name"] == MODEL}
    assert set(entries) == {"fp32", "int8"}
    for precision, raw in entries.items():
        entry = parse_entry(raw, f"{extra_manifest}: {precision}")
        assert entry.decoder["kind"] == "yolov5" and entry.input.shape == (1, 640, 640, 3)
        assert entry.outputs == ("detections",) and len(entry.labels) == 80
        assert "GPL-3.0" in entry.upstream.licence and "AGPL-3.0" in entry.upstream.licence
        assert "Ultralytics" in entry.upstream.licence
        assert entry.upstream.package == "npm:yolov5@1.0.11"
        assert entry.upstream.package_sha256 == PACKAGE_SHA256
        assert entry.upstream.path == "dist/src/model_s/model.json"
    assert entries["int8"]["quantization"]["calibration"].startswith("19 images: 16 frames")
    assert entries["int8"]["bytes"] < entries["fp32"]["bytes"] / 2


def test_raw_output_is_the_documented_tensor(
    extra_manifest: Path, labelled: list[LabelledFrame]
) -> None:
    """1 x 25200 x 85, boxes as fractions of the input, objectness and classes in [0, 1]."""
    from agent.inference.preprocess import preprocess

    model = load_model(MODEL, "fp32", "onnxruntime", threads=2)
    batch, _ = preprocess([labelled[0].image], model.spec)
    (out,) = model.run(batch)
    assert out.shape == (1, 25200, 85)
    assert out[..., 4:].min() >= 0.0 and out[..., 4:].max() <= 1.0
    confident = out[0][out[0, :, 4] > 0.5]
    assert len(confident) >= 5
    assert confident[:, :4].max() <= 1.5  # normalised (pixel boxes would be tens to hundreds)
    pair = np.concatenate([batch, batch[:, :, ::-1]])
    together = model.run(pair)[0]
    np.testing.assert_allclose(together[1:], model.run(pair[1:])[0], atol=1e-4)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_finds_the_labelled_people(
    labelled: list[LabelledFrame], predictions: dict, backend: str, precision: str
) -> None:
    full = _at(predictions[(backend, precision, "full")], _threshold())
    counts = score_class(labelled, full, [0], ["person"])
    assert counts.true_positives >= 150, counts
    assert counts.precision >= 0.9 and counts.recall >= 0.9, counts


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_keeps_small_people_that_nanodet_g_loses(
    labelled: list[LabelledFrame], predictions: dict, precision: str
) -> None:
    """Frames shrunk to a third (people ~30 px): the reason to accept its licence."""
    third = shrunk(labelled, 1 / 3)
    mine = score_class(
        third, _at(predictions[("onnxruntime", precision, "third")], _threshold()), [0], ["person"]
    )
    nanodet = ObjectDetector(load_model("nanodet-g", precision, "onnxruntime", threads=2))
    theirs = score_class(third, detect_all(nanodet.detect, third), [0], ["person"])
    # Measured on AMD EPYC (AVX2): FP32 P/R well above 0.85/0.75; INT8 finds as many but
    # adds false boxes at this scale (P 0.80, R 0.84 at 0.30), hence its lower bar.
    assert mine.precision >= (0.85 if precision == "fp32" else 0.72), mine
    assert mine.recall >= 0.75, mine
    assert mine.recall >= theirs.recall + 0.3, (mine, theirs)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_int8_agrees_with_fp32(predictions: dict, backend: str) -> None:
    result = precision_agreement(
        predictions[(backend, "fp32", "full")],
        predictions[(backend, "int8", "full")],
        _threshold(),
        MARGIN,
    )
    assert result.persons >= 0.9, result
    assert result.total >= 150 and result.all_classes >= 0.85, result


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_onnxruntime_and_openvino_agree(predictions: dict, precision: str) -> None:
    result = precision_agreement(
        predictions[("onnxruntime", precision, "full")],
        predictions[("openvino", precision, "full")],
        _threshold(),
        MARGIN,
    )
    assert result.persons >= 0.95, result
    # INT8 measured 455/512 = 0.89 over all 80 classes (near-threshold non-person boxes).
    assert result.all_classes >= 0.85, result


def test_loading_logs_the_licence(extra_manifest: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="agent.inference.backend"):
        load_model(MODEL, "int8", "onnxruntime")
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert line.startswith("model licence: yolov5s:int8 weights are licensed GPL-3.0 / AGPL-3.0")


def test_doctor_shows_the_licence(extra_manifest: Path, tmp_path: Path) -> None:
    cmd = [str(Path(sys.executable).parent / "oko-agent"), "doctor", "--model", MODEL]
    proc = subprocess.run(
        [*cmd, "--data-dir", str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "model: yolov5s:int8" in proc.stdout and "licence: GPL-3.0 / AGPL-3.0" in proc.stdout
    assert "WARNING model licence: yolov5s:int8 weights are licensed GPL-3.0" in proc.stdout


def _copy_extras(extra_manifest: Path, tmp_path: Path) -> tuple[Path, Path]:
    """models/extra's manifest and INT8 file copied into tmp_path."""
    shutil.copyfile(extra_manifest, tmp_path / "manifest.json")
    spec = load_manifest().get(MODEL, "int8")
    shutil.copyfile(spec.path, tmp_path / spec.path.name)
    return tmp_path / "manifest.json", tmp_path / spec.path.name


def test_a_tampered_or_missing_file_is_refused(extra_manifest: Path, tmp_path: Path) -> None:
    manifest, model = _copy_extras(extra_manifest, tmp_path)
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256 mismatch") as info:
        load_model(MODEL, "int8", "onnxruntime", manifest=manifest)
    assert str(model) in str(info.value)
    model.unlink()
    with pytest.raises(ModelError, match=f"model {MODEL}:int8: file not found"):
        load_model(MODEL, "int8", "openvino", manifest=manifest)
    merged = load_manifest(extra=manifest)  # the agent's default view, with that extras folder
    with pytest.raises(ModelError, match="file not found"):
        merged.get(MODEL, "int8").verify()

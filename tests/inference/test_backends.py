"""Both backends on the shipped detector: same answers, refused when tampered or broken."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from agent.detect.object_detector import ObjectDetector
from agent.detect.scoring import tolerant_agreement
from agent.errors import BackendUnavailableError, ModelError, ModelIntegrityError
from agent.inference.backend import available_backends, load_model, resolve_backend
from agent.inference.manifest import file_sha256, load_manifest
from agent.media import read_media

CLIP = Path("tests/data/vtest.avi")
DETECTOR = "nanodet-g"


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return next(img for i, img in read_media(CLIP, every=300, max_frames=2) if i == 300)


def _copy_manifest(tmp_path: Path, name: str, precision: str) -> tuple[Path, Path]:
    """A one-model manifest in tmp_path with its own copy of the model file."""
    manifest = load_manifest()
    spec = manifest.get(name, precision)
    doc = json.loads(manifest.path.read_text())
    entry = next(e for e in doc["models"] if e["name"] == name and e["precision"] == precision)
    doc["models"] = [entry]
    model_copy = tmp_path / entry["file"]
    shutil.copyfile(spec.path, model_copy)
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    return tmp_path / "manifest.json", model_copy


def test_manifest_files_match_their_checksums() -> None:
    manifest = load_manifest()
    assert DETECTOR in manifest.names()
    for spec in manifest.specs:
        assert file_sha256(spec.path) == spec.sha256, spec.key


def test_tampered_model_is_refused_with_both_digests(tmp_path: Path) -> None:
    manifest_path, model = _copy_manifest(tmp_path, DETECTOR, "int8")
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256 mismatch") as info:
        load_model(DETECTOR, "int8", "onnxruntime", manifest=manifest_path)
    assert str(model) in str(info.value)


@pytest.mark.parametrize("backend", available_backends())
def test_garbage_model_with_matching_checksum_is_a_model_error(
    tmp_path: Path, backend: str
) -> None:
    manifest_path, model = _copy_manifest(tmp_path, DETECTOR, "fp32")
    model.write_bytes(b"not an onnx file at all")
    doc = json.loads(manifest_path.read_text())
    doc["models"][0]["sha256"] = file_sha256(model)
    manifest_path.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match=f"{backend} cannot load"):
        load_model(DETECTOR, "fp32", backend, manifest=manifest_path)


def test_unknown_backend_and_model_are_clear_errors() -> None:
    with pytest.raises(BackendUnavailableError, match="unknown backend 'tensorrt'"):
        resolve_backend("tensorrt")
    with pytest.raises(ModelError, match="no model yolo:int8"):
        load_model("yolo", "int8")
    assert resolve_backend("auto") in available_backends()


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_backends_agree_on_real_frame(frame: np.ndarray, precision: str) -> None:
    if len(available_backends()) < 2:
        pytest.skip("needs both onnxruntime and openvino")
    results = {}
    for backend in available_backends():
        model = load_model(DETECTOR, precision, backend, threads=2)
        threshold = float(model.spec.defaults["score_threshold"])
        detector = ObjectDetector(model, score_threshold=threshold - 0.05)
        results[backend] = detector.detect([frame])[0]
    ort, ov = results["onnxruntime"], results["openvino"]
    persons = detector.labels.index("person")
    assert (ort[ort.confidence >= threshold].class_id == persons).sum() >= 5
    agreed, total = tolerant_agreement(ort, ov, threshold, margin=0.05)
    assert total >= 10 and agreed >= 0.9 * total, (agreed, total)


def test_batch_equals_single(frame: np.ndarray) -> None:
    detector = ObjectDetector(load_model(DETECTOR, "fp32", "onnxruntime", threads=2))
    flipped = np.ascontiguousarray(frame[:, ::-1])
    single = [detector.detect([f])[0] for f in (frame, flipped)]
    batched = detector.detect([frame, flipped])
    for s, b in zip(single, batched, strict=True):
        np.testing.assert_allclose(s.xyxy, b.xyxy, atol=0.5)
        np.testing.assert_array_equal(s.class_id, b.class_id)


def test_openvino_runs_a_size_free_model_at_any_multiple_of_its_stride() -> None:
    """CenterFace takes any multiple of 32 (whole frames at native scale); OpenVINO must
    not freeze it to the manifest's nominal 160x160, and must agree with ONNX Runtime."""
    if len(available_backends()) < 2:
        pytest.skip("needs both onnxruntime and openvino")
    from agent.faces.face_detector import FaceDetector

    portrait = next(img for _, img in read_media(Path("tests/data/grace_hopper.jpg")))
    whole = (608, 512)  # the portrait's own size, padded to multiples of 32
    found = {
        backend: FaceDetector(load_model("centerface", "fp32", backend), input_hw=whole).detect(
            [portrait]
        )[0]
        for backend in ("onnxruntime", "openvino")
    }
    ort, ov = found["onnxruntime"], found["openvino"]
    assert len(ort) >= 1 and len(ov) == len(ort), (ort.xyxy, ov.xyxy)
    np.testing.assert_allclose(ov.xyxy, ort.xyxy, atol=2.0)

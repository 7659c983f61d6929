"""dlib's ResNet as a selectable face embedder: the graph we write, its chip, its refusals.

The ONNX graph is written by models/build/dlib_resnet.py from face-api's TF.js weights; here
it is checked against an independent numpy forward pass of the very numbers the file holds
(models.build.dlib_weights.reference_forward), on real faces aligned through the agent's
own chain, on every installed backend. Identity: the same person at two resolutions of one
photograph is nearer than anyone else, on identities where bench/face_identity.py shows it
holds with room to spare (margins far above backend/ISA rounding, ~1e-5 cosine).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from agent.errors import ModelError
from agent.faces.align import DLIB_5, AlignmentError, alignment_matrix
from agent.faces.embedding import FaceEmbedder
from agent.faces.face_detector import FaceDetector
from agent.faces.models import FaceModelPair
from agent.inference.backend import available_backends, load_model
from bench.face_recall import head_crops, match, solvay_images
from models import MANIFEST_PATH, MODELS_DIR
from models.build import dlib_weights as dw
from models.build.dlib_resnet import real_chips
from models.schema import ManifestEntry

NAME = "dlib-resnet"
DATA = Path(__file__).parent / "data"
#: Least gap between a probe's own-person cosine and its best other person (this comparison
#: measured >= 0.033 for these 29 identities on dlib, >= 0.22 on FaceRes; rounding across
#: backends and ISAs is ~1e-5).
MIN_MARGIN = 0.01


@pytest.fixture(scope="module")
def chips_bgr() -> np.ndarray:
    """dlib chips of the three tests/data portraits (CenterFace -> dlib-150 alignment)."""
    return np.ascontiguousarray(real_chips(DATA)[..., ::-1])


@pytest.fixture(scope="module")
def entry() -> dict:
    doc = json.loads(MANIFEST_PATH.read_text())
    return next(e for e in doc["models"] if e["name"] == NAME)


@pytest.mark.parametrize("backend", available_backends())
def test_graph_matches_a_numpy_forward_pass_on_real_faces(
    backend: str, chips_bgr: np.ndarray
) -> None:
    weights = dw.weights_from_graph(onnx.load(str(MODELS_DIR / f"{NAME}.fp32.onnx")))
    want = dw.reference_forward(weights, np.ascontiguousarray(chips_bgr[..., ::-1]))
    got = FaceEmbedder(load_model(NAME, "fp32", backend, 1)).embed(chips_bgr)
    cos = np.sum(got * want, 1) / np.linalg.norm(want, axis=1)
    assert cos.min() >= 0.9999, cos
    # Not a constant: three different people give three clearly different descriptors.
    assert (got @ got.T)[np.triu_indices(3, 1)].max() < 0.95


def test_manifest_entry_validates_and_names_its_chip_and_licence(entry: dict) -> None:
    spec = ManifestEntry.model_validate(entry)
    assert spec.task == "face-embedding" and spec.input.shape == (1, 3, 150, 150)
    assert entry["decoder"] == {
        "kind": "embedding",
        "dim": 128,
        "alignment": "dlib-150",
        "alignment_size": 150,
        "l2_normalise": True,
    }
    assert "public domain" in entry["upstream"]["licence"]
    assert "MIT" in entry["upstream"]["licence"]
    assert entry["upstream"]["package"] == "npm:@vladmandic/face-api@1.7.15"
    pair = FaceModelPair.load(backend="onnxruntime", threads=1, embedder=NAME)
    assert (pair.embedder_id.name, pair.embedder_id.version) == (NAME, entry["version"])
    assert (pair.embed_size, pair.embed_alignment) == (150, "dlib-150")


def _embed_versions(
    detector: FaceDetector, embedder: FaceEmbedder, names: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Solvay version name -> (29, d) vectors (labelled face order; all must be found)."""
    out = {}
    for item in (i for i in solvay_images() if i.name in names):
        image = item.load()
        crops, offsets = head_crops(image, item.boxes)
        chips = []
        for i, (crop, faces) in enumerate(zip(crops, detector.detect(crops), strict=True)):
            label = item.boxes[i : i + 1] - np.tile(offsets[i], 2)
            hits = [j for j in range(len(faces)) if match(label, faces.xyxy[j : j + 1])[0][0]]
            assert hits and faces.keypoints is not None, f"{item.name} face {i} not found"
            chips.append(embedder.align(crop, faces.keypoints[hits[0]]))
        out[item.name] = embedder.embed(np.stack(chips))
    return out


@pytest.mark.parametrize("backend", available_backends())
def test_same_person_at_another_resolution_is_nearer_than_anyone_else(backend: str) -> None:
    detector = FaceDetector(load_model("centerface", "fp32", backend, 1))
    embedder = FaceEmbedder(load_model(NAME, "fp32", backend, 1))
    big, small = "solvay-2126x1463", "solvay-1280x881"
    vectors = _embed_versions(detector, embedder, (big, small))
    scores = vectors[small] @ vectors[big].T
    own = np.diag(scores)
    others = np.where(np.eye(len(scores), dtype=bool), -np.inf, scores).max(axis=1)
    assert (own - others).min() >= MIN_MARGIN, np.round(own - others, 4)


def test_wrong_crop_size_and_tampered_file_are_refused(
    tmp_path: Path, chips_bgr: np.ndarray, entry: dict
) -> None:
    embedder = FaceEmbedder(load_model(NAME, "fp32", "onnxruntime", 1))
    with pytest.raises(ModelError, match=r"\(n, 150, 150, 3\)"):
        embedder.embed(np.zeros((1, 112, 112, 3), np.uint8))
    with pytest.raises(ModelError, match="uint8"):
        embedder.embed(chips_bgr.astype(np.float32))
    shutil.copy(MODELS_DIR / entry["file"], tmp_path / entry["file"])
    (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": 1, "models": [entry]}))
    with (tmp_path / entry["file"]).open("r+b") as f:
        f.seek(entry["bytes"] // 2)
        byte = f.read(1)
        f.seek(entry["bytes"] // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelError, match="sha256"):
        load_model(NAME, "fp32", "onnxruntime", 1, manifest=tmp_path / "manifest.json")


def test_unknown_embedder_and_template_are_refused() -> None:
    from agent.config.analytics import FaceConfig
    from agent.config.camera import CameraSpec
    from agent.errors import ConfigError
    from agent.pipeline.detector_setup import load_face_models

    with pytest.raises(ModelError, match="unknown face embedder 'nope'"):
        FaceModelPair.load(embedder="nope")
    with pytest.raises(ValueError, match="embedder"):
        FaceConfig(embedder="nope")
    with pytest.raises(AlignmentError, match="unknown alignment template"):
        alignment_matrix(DLIB_5, 150, "dlib-151")
    specs = [
        CameraSpec(id="a", source="x.avi", faces={"embedder": "faceres"}),
        CameraSpec(id="b", source="y.avi", faces={"embedder": NAME}),
    ]
    with pytest.raises(ConfigError, match=r"faces\.embedder"):
        load_face_models(specs)


def test_dlib_template_puts_the_five_points_on_dlibs_chip() -> None:
    # A face already on the template maps to itself; a scaled, shifted copy maps back.
    assert np.allclose(alignment_matrix(DLIB_5, 150, "dlib-150"), [[1, 0, 0], [0, 1, 0]], atol=1e-3)
    moved = DLIB_5 * 0.5 + np.array([30, 12], np.float32)
    matrix = alignment_matrix(moved, 150, "dlib-150")
    back = moved @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(back - DLIB_5).max() < 1e-2


def test_weights_decoder_refuses_short_or_foreign_files() -> None:
    spec = [{"paths": ["x"], "weights": [{"name": "fc", "shape": [256, 128], "dtype": "float32"}]}]
    with pytest.raises(ModelError, match="ends at"):
        dw.decode_stored(spec, b"\0" * 100)
    with pytest.raises(ModelError, match="missing"):
        dw.decode_stored(spec, b"\0" * (256 * 128 * 4))
    with pytest.raises(ModelError, match="does not use"):
        dw.decode_stored(spec, b"\0" * (256 * 128 * 4 + 3))

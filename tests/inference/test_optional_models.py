"""Optional models (issue 12 item 5) without their weights: what holds on every checkout.

YOLOv5s is built on request into models/extra/ and never committed; the tests that run the
real converted model are in tests/extra_models/ (marked `extra_models`, out of the default
suite). Here: the decoder on hand-made output rows, the licence rule, the licence warning on
a real model load, how an extras manifest merges and fails, and the build CLI's refusals.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from agent.detect.yolov5 import MAX_CANDIDATES, YoloV5Params, decode_yolov5
from agent.errors import ModelError
from agent.inference.backend import load_model
from agent.inference.licence import licence_kind, licence_warning
from agent.inference.manifest import OPTIONAL_MODELS, load_manifest
from models import EXTRA_DIR, MANIFEST_PATH
from models.build.__main__ import app
from models.build.recipes import EXTRAS, RECIPES, YOLOV5S

REPO = Path(__file__).resolve().parents[2]


def _rows(*rows: tuple[float, ...], total: int = 50) -> np.ndarray:
    """A (1, total, 85) output: the given rows (cx, cy, w, h, obj, class, score), rest zero."""
    out = np.zeros((1, total, 85), np.float32)
    for i, (cx, cy, w, h, obj, cls, score) in enumerate(rows):
        out[0, i, :5] = (cx, cy, w, h, obj)
        out[0, i, 5 + int(cls)] = score
    return out


def test_decoder_scores_are_objectness_times_class_and_boxes_scale_to_input() -> None:
    out = _rows((0.5, 0.25, 0.1, 0.2, 0.9, 0, 0.8), (0.1, 0.1, 0.05, 0.05, 0.9, 2, 0.2))
    (raw,) = decode_yolov5([out], 0.3, input_hw=(640, 640))
    assert raw.class_id.tolist() == [0]  # 0.9 x 0.2 = 0.18 < 0.3: the car row is dropped
    np.testing.assert_allclose(raw.scores, [0.72], rtol=1e-6)
    np.testing.assert_allclose(raw.xyxy, [[288, 96, 352, 224]], atol=1e-4)
    (pixels,) = decode_yolov5([out], 0.3, params=YoloV5Params(box_scale="pixels"))
    np.testing.assert_allclose(pixels.xyxy, [[0.45, 0.15, 0.55, 0.35]], atol=1e-6)


def test_decoder_takes_the_best_class_per_row_and_decodes_every_image_of_a_batch() -> None:
    first = _rows((0.5, 0.5, 0.2, 0.2, 0.8, 24, 0.9))
    first[0, 0, 5] = 0.5  # person 0.5 < backpack 0.9 on the same row
    second = _rows()
    raws = decode_yolov5([np.concatenate([first, second])], 0.25)
    assert [len(r.scores) for r in raws] == [1, 0]
    assert raws[0].class_id.tolist() == [24]
    assert raws[1].xyxy.shape == (0, 4)


def test_decoder_caps_candidates_at_the_best_scores() -> None:
    count = MAX_CANDIDATES + 100
    out = np.zeros((1, count, 85), np.float32)
    out[0, :, :4] = (0.5, 0.5, 0.1, 0.1)
    out[0, :, 4] = 1.0
    out[0, :, 5] = np.linspace(0.3, 0.9, count)
    (raw,) = decode_yolov5([out], 0.25)
    assert len(raw.scores) == MAX_CANDIDATES
    assert raw.scores.min() >= np.sort(out[0, :, 5])[100] - 1e-6


def test_decoder_refuses_outputs_not_shaped_as_the_manifest_says() -> None:
    with pytest.raises(ValueError, match=r"\(batch, rows, 85\)"):
        decode_yolov5([np.zeros((1, 10, 84), np.float32)], 0.3)
    with pytest.raises(ValueError, match="one output"):
        decode_yolov5([np.zeros((1, 10, 85), np.float32)] * 2, 0.3)
    with pytest.raises(ValueError, match=r"decoder\.box_scale"):
        YoloV5Params.from_decoder({"kind": "yolov5", "box_scale": "cm"})
    with pytest.raises(ValueError, match=r"decoder\.num_classes"):
        YoloV5Params.from_decoder({"kind": "yolov5", "num_classes": 0})


def test_licence_kinds_of_what_is_shipped_and_what_is_not() -> None:
    shipped = {
        s.name: licence_kind(s.upstream["licence"]) for s in load_manifest(MANIFEST_PATH).specs
    }
    assert shipped["nanodet-g"] == "permissive" and shipped["centerface"] == "permissive"
    assert shipped["faceres"] == "unverified"  # "unverified: ... (MIT wrapper)"
    assert licence_kind(YOLOV5S.licence) == "copyleft"
    assert licence_kind("unknown") == licence_kind("") == "unverified"
    assert licence_kind("public domain (dlib model); MIT (port)") == "permissive"
    warning = licence_warning("yolov5s:int8", YOLOV5S.licence)
    assert warning and "GPL-3.0" in warning and "AGPL-3.0" in warning
    assert licence_warning("nanodet-g:int8", "Apache-2.0") is None


def _relicensed_copy(tmp_path: Path, licence: str) -> Path:
    """A one-model manifest in tmp_path: the shipped NanoDet-g INT8 under another licence."""
    doc = json.loads(MANIFEST_PATH.read_text())
    entry = next(e for e in doc["models"] if e["name"] == "nanodet-g" and e["precision"] == "int8")
    entry["upstream"]["licence"] = licence
    shutil.copyfile(MANIFEST_PATH.parent / entry["file"], tmp_path / entry["file"])
    (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": 1, "models": [entry]}))
    return tmp_path / "manifest.json"


def test_loading_a_copyleft_model_logs_a_greppable_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manifest = _relicensed_copy(tmp_path, YOLOV5S.licence)
    with caplog.at_level(logging.WARNING, logger="agent.inference.backend"):
        load_model("nanodet-g", "int8", "onnxruntime", manifest=manifest)
    lines = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lines) == 1
    assert lines[0].getMessage().startswith("model licence: nanodet-g:int8 weights are licensed")
    assert "GPL-3.0 / AGPL-3.0" in lines[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="agent.inference.backend"):
        load_model("nanodet-g", "int8", "onnxruntime")  # the shipped, Apache-2.0 one
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def _extras_with(tmp_path: Path, rename: str) -> Path:
    """An extras folder whose manifest lists the shipped NanoDet-g INT8 under `rename`."""
    doc = json.loads(_relicensed_copy(tmp_path, YOLOV5S.licence).read_text())
    doc["models"][0]["name"] = rename
    doc["models"][0].pop("aliases", None)
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    return tmp_path / "manifest.json"


def test_an_extras_manifest_adds_its_models_and_may_not_shadow_shipped_ones(
    tmp_path: Path,
) -> None:
    extra = _extras_with(tmp_path, "yolov5s")
    merged = load_manifest(extra=extra)
    spec = merged.get("yolov5s", "int8")
    assert spec.path == tmp_path / "nanodet-g.int8.onnx"
    assert merged.get("nanodet-g", "int8").path.parent == MANIFEST_PATH.parent
    assert "yolov5s" not in load_manifest(MANIFEST_PATH, extra=extra).names()  # explicit path
    with pytest.raises(ModelError, match="nanodet-m reuses the name of a shipped model"):
        load_manifest(extra=_extras_with(tmp_path, "nanodet-m"))


def test_a_broken_extras_manifest_is_an_error_naming_the_field(tmp_path: Path) -> None:
    extra = _extras_with(tmp_path, "yolov5s")
    doc = json.loads(extra.read_text())
    doc["models"][0]["sha256"] = "not-hex"
    extra.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match=r"models\[0\]: sha256: String should match"):
        load_manifest(extra=extra)
    extra.write_text("{ not json")
    with pytest.raises(ModelError, match="cannot read model manifest"):
        load_manifest(extra=extra)


def test_an_optional_model_not_built_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"make models EXTRA=yolov5s"):
        load_manifest(extra=tmp_path / "absent.json").best("yolov5s")
    assert set(OPTIONAL_MODELS) == set(EXTRAS)
    assert not set(EXTRAS) & set(RECIPES)


def test_the_build_cli_refuses_unknown_extras_and_an_empty_build() -> None:
    result = CliRunner().invoke(app, ["--extra", "yolov9"])
    assert result.exit_code == 2 and "yolov9" in result.output and "yolov5s" in result.output
    result = CliRunner().invoke(app, ["--skip-shipped"])
    assert result.exit_code == 2 and "nothing to build" in result.output


def test_built_extras_are_never_committed_nor_packaged() -> None:
    probe = EXTRA_DIR.relative_to(REPO) / "yolov5s.int8.onnx"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(probe)], cwd=REPO, check=False
    ).returncode
    assert ignored == 0, f"{probe} is not git-ignored"
    tracked = subprocess.run(
        ["git", "ls-files", str(EXTRA_DIR.relative_to(REPO))],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert tracked == ""
    assert "models/extra" in (REPO / ".dockerignore").read_text().splitlines()
    assert "--exclude=models/extra" in (REPO / "install.sh").read_text()

"""CenterFace on real labelled faces: recall on the Solvay photo, 5 landmarks, 5-point alignment.

Labels: tests/data/labels/faces/ (hand-checked; docs/faces.md says how). The Solvay photo
comes from the Debian package visp-images-data (scripts/install-system-deps.sh). The model is
FP32, so scores are stable across CPUs; the recall floors still leave room (the measured
figures are in docs/faces.md): 29/29 at every published resolution, allowed 27.
"""

from __future__ import annotations

import numpy as np
import pytest

from agent.config.analytics import FaceConfig
from agent.errors import ModelError
from agent.faces.align import TEMPLATE_SIZE, alignment_matrix, template_points
from agent.faces.centerface import CenterFaceParams, decode_centerface
from agent.faces.face_detector import FaceDetector
from agent.faces.models import DETECTOR_MODEL, FaceModelPair
from agent.inference.backend import load_model
from bench.face_recall import head_crops, match, photo_images, solvay_eyes, solvay_images

SOLVAY = solvay_images()
PUBLISHED = [s for s in SOLVAY if s.scale == 1.0]


@pytest.fixture(scope="module")
def centerface() -> FaceDetector:
    return FaceDetector(load_model("centerface", "fp32"))


def _native(detector: FaceDetector, image: np.ndarray) -> FaceDetector:
    height, width = image.shape[:2]
    return FaceDetector(detector.model, input_hw=(-(-height // 32) * 32, -(-width // 32) * 32))


@pytest.fixture(scope="module")
def solvay_1024(centerface: FaceDetector) -> tuple[np.ndarray, np.ndarray, object]:
    item = next(s for s in PUBLISHED if s.name.endswith("1024x705"))
    image = item.load()
    return image, item.boxes, _native(centerface, image).detect([image])[0]


def test_the_default_face_detector_is_centerface() -> None:
    assert DETECTOR_MODEL == "centerface"
    assert FaceConfig().detector == "centerface"


@pytest.mark.parametrize("item", PUBLISHED, ids=[s.name for s in PUBLISHED])
def test_centerface_finds_the_solvay_faces_on_whole_frames(
    centerface: FaceDetector, item: object
) -> None:
    image = item.load()  # type: ignore[attr-defined]
    truth = item.boxes  # type: ignore[attr-defined]
    found = _native(centerface, image).detect([image])[0]
    hit, extra = match(truth, found.xyxy)
    widths = truth[:, 2] - truth[:, 0]
    assert hit.sum() >= 27, f"{item}: {hit.sum()}/29 faces; missed widths {widths[~hit]}"
    assert extra <= 2, f"{extra} detections on no labelled face (the photo is fully labelled)"


def test_centerface_finds_cctv_sized_faces_in_head_crops(centerface: FaceDetector) -> None:
    """The 640x440 photo downscaled to 0.6: faces 8-12 px wide, cut as head crops."""
    item = next(s for s in SOLVAY if s.scale == 0.6)
    image = item.load()
    crops, offsets = head_crops(image, item.boxes)
    per_crop = centerface.detect(crops)
    own = 0
    for i, (faces, offset) in enumerate(zip(per_crop, offsets, strict=True)):
        hit, _ = match(item.boxes, faces.xyxy + np.tile(offset, 2))
        own += int(hit[i])
    widths = item.boxes[:, 2] - item.boxes[:, 0]
    assert widths.max() < 13, "this size is meant to be CCTV distance"
    assert own >= 22, f"{own}/29 faces of 8-12 px found in their head crops"


def test_five_landmarks_lie_inside_their_face_box(solvay_1024: tuple) -> None:
    _, _, found = solvay_1024
    assert found.keypoints is not None and found.keypoints.shape[1:] == (5, 2)
    x1, y1, x2, y2 = (found.xyxy[:, i : i + 1] for i in range(4))
    pts = found.keypoints
    inside = (pts[..., 0] >= x1) & (pts[..., 0] <= x2) & (pts[..., 1] >= y1) & (pts[..., 1] <= y2)
    assert inside.all()
    # Anatomy, in image terms: eyes above the nose above the mouth, left of right.
    assert (pts[:, 0, 0] < pts[:, 1, 0]).all() and (pts[:, 3, 0] < pts[:, 4, 0]).all()
    assert (pts[:, :2, 1].max(axis=1) < pts[:, 2, 1]).all()
    assert (pts[:, 2, 1] < pts[:, 3:, 1].min(axis=1)).all()


def test_alignment_puts_the_labelled_eyes_on_the_template(solvay_1024: tuple) -> None:
    """Detected landmarks at 1024 px -> 5-point similarity; the hand-checked eye points
    (labelled on the 2126 px version) must land within a few px of the template's eyes."""
    image, truth, found = solvay_1024
    eyes = solvay_eyes(image.shape[1], image.shape[0])
    hit_of = {}
    for k, box in enumerate(found.xyxy):
        hit, _ = match(truth, box[None])
        if hit.any():
            hit_of[int(np.flatnonzero(hit)[0])] = k
    assert len(hit_of) >= 27
    size = 112
    errors = []
    for label, k in hit_of.items():
        src, template = template_points(found.keypoints[k])
        assert len(src) == 5, "CenterFace faces use all five template points"
        matrix = alignment_matrix(found.keypoints[k], size)
        mapped = eyes[label] @ matrix[:, :2].T + matrix[:, 2]
        errors.append(np.abs(mapped - template[:2] * size / TEMPLATE_SIZE).max())
    errors_px = np.array(errors)
    assert np.median(errors_px) < 3.0, f"eye error per face (px of 112): {errors_px.round(1)}"
    assert errors_px.max() < 8.0, f"eye error per face (px of 112): {errors_px.round(1)}"


@pytest.mark.parametrize("item", photo_images(), ids=lambda i: i.name)
def test_centerface_finds_the_portrait_faces_in_their_head_crops(
    centerface: FaceDetector, item: object
) -> None:
    image = item.load()  # type: ignore[attr-defined]
    crops, offsets = head_crops(image, item.boxes)  # type: ignore[attr-defined]
    (faces,) = centerface.detect(crops[:1])
    hit, _ = match(item.boxes, faces.xyxy + np.tile(offsets[0], 2))  # type: ignore[attr-defined]
    assert hit[0], f"{item}: face not found, got {faces.xyxy}"


def test_decoder_refuses_wrong_outputs() -> None:
    params = CenterFaceParams()
    heat = np.zeros((1, 1, 8, 8), np.float32)
    with pytest.raises(ModelError, match="4 outputs"):
        decode_centerface([heat], params, 0.5, 0.3)
    with pytest.raises(ModelError, match="shapes"):
        decode_centerface([heat, heat, heat, heat], params, 0.5, 0.3)
    with pytest.raises(ModelError, match="not a CenterFace"):
        CenterFaceParams.from_decoder({"kind": "blazeface"})


def test_fixed_size_models_refuse_another_input_size(centerface: FaceDetector) -> None:
    with pytest.raises(ModelError, match="multiples of 32"):
        FaceDetector(centerface.model, input_hw=(100, 100))
    blaze = load_model("blazeface-back", "fp32", "onnxruntime")
    with pytest.raises(ModelError, match="fixed"):
        FaceDetector(blaze, input_hw=(320, 320))


def test_unknown_face_detector_is_refused() -> None:
    with pytest.raises(ModelError, match="unknown face detector 'nope'"):
        FaceModelPair.load(detector="nope")
    with pytest.raises(ValueError, match="detector"):
        FaceConfig(detector="nope")


def test_a_box_refuses_cameras_asking_for_different_face_detectors() -> None:
    from agent.config.camera import CameraSpec
    from agent.errors import ConfigError
    from agent.pipeline.detector_setup import load_face_models

    specs = [
        CameraSpec(id="a", source="x.avi", faces={"detector": "centerface"}),
        CameraSpec(id="b", source="y.avi", faces={"detector": "blazeface-back"}),
    ]
    with pytest.raises(ConfigError, match=r"faces\.detector"):
        load_face_models(specs)
    pair = load_face_models(specs[1:], backend="onnxruntime")
    assert pair is not None and pair.detector.model.spec.name == "blazeface-back"

"""Preprocessing round trips to source pixels; NMS keeps the best box per object and class."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from agent.detect.nms import nms
from agent.inference.manifest import ModelSpec
from agent.inference.preprocess import preprocess, resize_image

SPEC = ModelSpec(
    name="t",
    task="object-detection",
    version="0",
    precision="fp32",
    path=Path("x.onnx"),
    sha256="",
    input_name="in",
    input_shape=(1, 3, 416, 416),
    layout="NCHW",
    color="BGR",
    mean=(100.0, 110.0, 120.0),
    std=(50.0, 50.0, 50.0),
    resize="stretch",
    dynamic_batch=True,
    outputs=(),
)


@pytest.mark.parametrize("mode", ["stretch", "letterbox"])
def test_transform_maps_model_pixels_back_to_source(mode: str) -> None:
    image = np.zeros((576, 768, 3), np.uint8)
    resized, t = resize_image(image, (416, 416), mode)
    assert resized.shape == (416, 416, 3)
    # the source frame's corners land on the model image's content corners
    corners_model = np.array([[t.pad_x, t.pad_y, 416 - t.pad_x, 416 - t.pad_y]], np.float32)
    assert t.to_source(corners_model)[0].tolist() == pytest.approx([0, 0, 768, 576], abs=1.0)


def test_normalisation_follows_manifest_layout_colour_mean_std() -> None:
    image = np.zeros((10, 10, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 200, 110, 20  # B, G, R
    batch, _ = preprocess([image], SPEC)
    assert batch.shape == (1, 3, 416, 416) and batch.dtype == np.float32
    assert batch[0, :, 5, 5].tolist() == pytest.approx([2.0, 0.0, -2.0])
    rgb = replace(SPEC, color="RGB", layout="NHWC", input_shape=(1, 416, 416, 3))
    batch, _ = preprocess([image], rgb)
    assert batch.shape == (1, 416, 416, 3)
    assert batch[0, 5, 5].tolist() == pytest.approx([(20 - 100) / 50, 0.0, (200 - 120) / 50])


def test_preprocess_rejects_non_bgr_input_with_the_shape() -> None:
    with pytest.raises(ValueError, match=r"\(10, 10\)"):
        preprocess([np.zeros((10, 10), np.uint8)], SPEC)


def test_nms_is_class_aware_and_keeps_highest_score() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.6, 0.9, 0.8, 0.3], np.float32)
    classes = np.array([0, 0, 1, 0])
    keep = nms(boxes, scores, 0.5, classes)
    assert keep.tolist() == [1, 2, 3]
    assert nms(boxes, scores, 0.5).tolist() == [1, 3]
    assert nms(np.empty((0, 4)), np.empty(0), 0.5).tolist() == []


def test_matrix_nms_keeps_exactly_what_the_one_row_at_a_time_rule_keeps() -> None:
    """The IoU-matrix path and the loop used above MATRIX_LIMIT are the same greedy rule."""
    from agent.detect.nms import _nms_loop

    rng = np.random.default_rng(16)
    for trial in range(60):
        n = int(rng.integers(1, 300))
        xy = rng.uniform(0, 400, (n, 2)).astype(np.float32)
        boxes = np.concatenate([xy, xy + rng.uniform(1, 80, (n, 2)).astype(np.float32)], 1)
        scores = rng.uniform(0, 1, n).astype(np.float32)
        if trial % 3 == 0:
            scores = np.round(scores, 1)  # ties: both must break them the same (stable) way
        classes = rng.integers(0, 3, n)
        offset = boxes + (boxes.max() + 1.0) * classes[:, None].astype(np.float32)
        order = np.argsort(-scores, kind="stable")
        expected = _nms_loop(offset, order, 0.5, 300)
        assert nms(boxes, scores, 0.5, classes).tolist() == expected.tolist()
        limited = _nms_loop(boxes, order, 0.6, 5)
        assert nms(boxes, scores, 0.6, max_detections=5).tolist() == limited.tolist()


def test_opencv_blob_path_matches_the_numpy_normalisation_to_one_ulp() -> None:
    """NCHW stretch/letterbox go through cv2.dnn's one-pass blob; values match numpy's."""
    from agent.inference.preprocess import normalise

    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (576, 768, 3), dtype=np.uint8)
    crop = frame[40:300, 100:517]  # a non-contiguous view, as the motion gate's crops are
    for spec in (SPEC, replace(SPEC, color="RGB"), replace(SPEC, resize="letterbox")):
        batch, _ = preprocess([frame, crop], spec)
        resized = np.stack([resize_image(im, (416, 416), spec.resize)[0] for im in (frame, crop)])
        assert batch.flags.c_contiguous and batch.dtype == np.float32
        np.testing.assert_allclose(batch, normalise(resized, spec), rtol=0, atol=1e-5)

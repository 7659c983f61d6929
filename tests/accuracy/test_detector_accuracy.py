"""Detector accuracy on hand-labelled real footage, for every backend and precision.

Ground truth: tests/data/labels/vtest_boxes.json (how it was made: docs/labelling.md).
Persons are scored at IoU 0.5 with VOC's rule for `difficult` boxes. Thresholds are the
manifest's defaults, i.e. what `oko-agent detect` ships with. The figures themselves are
printed by `python -m bench.detector_accuracy`.
"""

from pathlib import Path

import pytest

from agent.detect.detector import ObjectDetector
from agent.detect.evaluation import LabelledFrame, detect_all, load_labelled_frames, score_class
from agent.detect.metrics import agreement, tolerant_agreement
from agent.detections import Detections
from agent.inference.backend import available_backends, load_model

LABELS = Path("tests/data/labels/vtest_boxes.json")
DETECTOR = "nanodet-m"
MIN_PRECISION = 0.85
MIN_RECALL = 0.85


@pytest.fixture(scope="module")
def labelled() -> list[LabelledFrame]:
    frames = load_labelled_frames(LABELS)
    assert len(frames) >= 20
    return frames


@pytest.fixture(scope="module")
def predictions(labelled: list[LabelledFrame]) -> dict[tuple[str, str], list[Detections]]:
    out = {}
    for backend in available_backends():
        for precision in ("fp32", "int8"):
            detector = ObjectDetector(load_model(DETECTOR, precision, backend, threads=2))
            out[(backend, precision)] = detect_all(detector.detect, labelled)
    return out


@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("backend", available_backends())
def test_person_precision_and_recall(labelled: list[LabelledFrame], predictions: dict,
                                     backend: str, precision: str) -> None:
    counts = score_class(labelled, predictions[(backend, precision)], [0], ["person"])
    assert counts.true_positives >= 100, counts
    assert counts.precision >= MIN_PRECISION, counts
    assert counts.recall >= MIN_RECALL, counts


@pytest.mark.parametrize("backend", available_backends())
def test_int8_boxes_agree_with_fp32(labelled: list[LabelledFrame], predictions: dict,
                                    backend: str) -> None:
    """Persons one-to-one at the shipped threshold; every class with a 0.05 score margin."""
    matched = n_fp32 = n_int8 = 0
    for fp32, int8 in zip(predictions[(backend, "fp32")], predictions[(backend, "int8")],
                          strict=True):
        m, a, b = agreement(fp32[fp32.class_id == 0], int8[int8.class_id == 0])
        matched, n_fp32, n_int8 = matched + m, n_fp32 + a, n_int8 + b
    assert matched >= 0.95 * max(n_fp32, n_int8), (matched, n_fp32, n_int8)

    margin = 0.05
    detectors = {}
    for precision in ("fp32", "int8"):
        model = load_model(DETECTOR, precision, backend, threads=2)
        threshold = float(model.spec.defaults["score_threshold"])
        detectors[precision] = ObjectDetector(model, score_threshold=threshold - margin)
    agreed = total = 0
    for frame in labelled:
        fp32, int8 = (detectors[p].detect([frame.image])[0] for p in ("fp32", "int8"))
        a, t = tolerant_agreement(fp32, int8, threshold, margin)
        agreed, total = agreed + a, total + t
    assert total >= 200 and agreed >= 0.95 * total, (agreed, total)

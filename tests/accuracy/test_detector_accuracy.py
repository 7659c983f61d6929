"""Detector accuracy on hand-labelled real footage, for every backend and precision.

Ground truth: tests/data/labels/vtest_boxes.json (how it was made: docs/labelling.md).
Persons are scored at IoU 0.5 with VOC's rule for `difficult` boxes. Thresholds are the
manifest's defaults, i.e. what `oko-agent detect` ships with. The figures themselves are
printed by `python -m bench.detector_accuracy`.
"""

from pathlib import Path

import pytest

from agent.detect.evaluation import (
    LabelledFrame,
    detect_all,
    load_labelled_frames,
    precision_agreement,
    score_class,
)
from agent.detect.object_detector import ObjectDetector
from agent.detections import Detections
from agent.inference.backend import available_backends, load_model
from agent.inference.manifest import ModelSpec, load_manifest

LABELS = Path("tests/data/labels/vtest_boxes.json")
DETECTOR = "nanodet-m"
MIN_PRECISION = 0.85
MIN_RECALL = 0.85


@pytest.fixture(scope="module")
def labelled() -> list[LabelledFrame]:
    frames = load_labelled_frames(LABELS)
    assert len(frames) >= 20
    return frames


MARGIN = 0.05


@pytest.fixture(scope="module")
def predictions(labelled: list[LabelledFrame]) -> dict[tuple[str, str], list[Detections]]:
    """Detections at the shipped threshold minus the agreement margin, run once per model.

    Keeping only scores >= the shipped threshold afterwards gives exactly what the shipped
    threshold gives: NMS lets a box be suppressed only by a higher-scoring one.
    """
    out = {}
    for backend in available_backends():
        for precision in ("fp32", "int8"):
            model = load_model(DETECTOR, precision, backend, threads=2)
            detector = ObjectDetector(model, score_threshold=_shipped(model.spec) - MARGIN)
            out[(backend, precision)] = detect_all(detector.detect, labelled)
    return out


def _shipped(spec: ModelSpec) -> float:
    return float(spec.defaults["score_threshold"])


@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("backend", available_backends())
def test_person_precision_and_recall(
    labelled: list[LabelledFrame], predictions: dict, backend: str, precision: str
) -> None:
    threshold = _shipped(load_manifest().get(DETECTOR, precision))
    shipped = [d[d.confidence >= threshold] for d in predictions[(backend, precision)]]
    counts = score_class(labelled, shipped, [0], ["person"])
    assert counts.true_positives >= 100, counts
    assert counts.precision >= MIN_PRECISION, counts
    assert counts.recall >= MIN_RECALL, counts


@pytest.mark.parametrize("backend", available_backends())
def test_int8_boxes_agree_with_fp32(predictions: dict, backend: str) -> None:
    """Persons one-to-one at the shipped threshold; every class with a 0.05 score margin."""
    threshold = _shipped(load_manifest().get(DETECTOR, "fp32"))
    result = precision_agreement(
        predictions[(backend, "fp32")], predictions[(backend, "int8")], threshold, MARGIN
    )
    assert result.persons >= 0.95, result
    assert result.total >= 200 and result.all_classes >= 0.95, result

"""Detector accuracy on hand-labelled real footage, for every backend and precision.

Ground truth: tests/data/labels/vtest_boxes.json (how it was made: docs/labelling.md).
Persons are scored at IoU 0.5 with VOC's rule for `difficult` boxes. Thresholds are the
manifest's defaults, i.e. what `oko-agent detect` ships with.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from agent.detect.detector import ObjectDetector
from agent.detect.metrics import MatchCounts, agreement, match_frame, tolerant_agreement
from agent.detections import Detections
from agent.inference.backend import available_backends, load_model
from agent.media import read_media

LABELS = Path("tests/data/labels/vtest_boxes.json")
CLIP = Path("tests/data/vtest.avi")
DETECTOR = "nanodet-m"
MIN_PRECISION = 0.85
MIN_RECALL = 0.85


@pytest.fixture(scope="module")
def labelled() -> list[tuple[np.ndarray, list[dict]]]:
    doc = json.loads(LABELS.read_text())
    wanted = {int(k): v for k, v in doc["frames"].items()}
    frames = [(img, wanted[i]) for i, img in read_media(CLIP) if i in wanted]
    assert len(frames) == len(wanted) >= 20
    return frames


@pytest.fixture(scope="module")
def predictions(labelled: list) -> dict[tuple[str, str], list[Detections]]:
    out = {}
    for backend in available_backends():
        for precision in ("fp32", "int8"):
            detector = ObjectDetector(load_model(DETECTOR, precision, backend, threads=2))
            out[(backend, precision)] = [detector.detect([img])[0] for img, _ in labelled]
    return out


def _person_counts(labelled: list, dets: list[Detections]) -> MatchCounts:
    total = MatchCounts()
    for (_, objects), d in zip(labelled, dets, strict=True):
        gt = [o for o in objects if o["label"] == "person"]
        gt_xyxy = np.array([o["box"] for o in gt], np.float32).reshape(-1, 4)
        difficult = np.array([o.get("difficult", False) for o in gt], bool)
        person = d[d.class_id == 0]
        total += match_frame(person.xyxy, person.confidence, gt_xyxy, difficult)
    return total


@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("backend", available_backends())
def test_person_precision_and_recall(labelled: list, predictions: dict, backend: str,
                                     precision: str) -> None:
    counts = _person_counts(labelled, predictions[(backend, precision)])
    assert counts.true_positives >= 50, counts
    assert counts.precision >= MIN_PRECISION, counts
    assert counts.recall >= MIN_RECALL, counts


@pytest.mark.parametrize("backend", available_backends())
def test_int8_boxes_agree_with_fp32(labelled: list, predictions: dict, backend: str) -> None:
    """Persons one-to-one at the shipped threshold; every class with a 0.05 score margin."""
    matched = n_fp32 = n_int8 = 0
    for fp32, int8 in zip(predictions[(backend, "fp32")], predictions[(backend, "int8")],
                          strict=True):
        m, a, b = agreement(fp32[fp32.class_id == 0], int8[int8.class_id == 0])
        matched, n_fp32, n_int8 = matched + m, n_fp32 + a, n_int8 + b
    assert matched >= 0.95 * max(n_fp32, n_int8), (matched, n_fp32, n_int8)

    margin = 0.05
    models = {}
    for precision in ("fp32", "int8"):
        model = load_model(DETECTOR, precision, backend, threads=2)
        threshold = float(model.spec.defaults["score_threshold"])
        models[precision] = ObjectDetector(model, score_threshold=threshold - margin)
    agreed = total = 0
    for image, _ in labelled:
        fp32, int8 = (models[p].detect([image])[0] for p in ("fp32", "int8"))
        a, t = tolerant_agreement(fp32, int8, threshold, margin)
        agreed, total = agreed + a, total + t
    assert total >= 200 and agreed >= 0.95 * total, (agreed, total)

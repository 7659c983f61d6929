"""Score a detector against hand-labelled frames (the format of tests/data/labels/).

One place for the evaluation protocol, so the accuracy tests, `bench/detector_accuracy.py`
and rollout quality gates all compute the same numbers from the same labels.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.detect.scoring import MatchCounts, agreement, match_frame, tolerant_agreement
from agent.detections import Detections
from agent.media import read_media


@dataclass(frozen=True)
class LabelledFrame:
    """One labelled frame: the image and its objects (label, box, difficult)."""

    index: int
    image: np.ndarray
    objects: list[dict[str, Any]]

    def boxes(self, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(xyxy (n, 4), difficult (n,)) of the objects whose label is in `labels`."""
        chosen = [
            o
            for o in self.objects
            if o["label"] in labels or set(o.get("alt_labels", ())) & set(labels)
        ]
        xyxy = np.array([o["box"] for o in chosen], np.float32).reshape(-1, 4)
        return xyxy, np.array([bool(o.get("difficult", False)) for o in chosen], bool)


def load_labelled_frames(labels_path: Path, video: Path | None = None) -> list[LabelledFrame]:
    """Frames named in a box-label file, decoded sequentially (seeking is not frame-exact)."""
    doc = json.loads(Path(labels_path).read_text(encoding="utf-8"))
    wanted = {int(k): v for k, v in doc["frames"].items()}
    source = video or Path(doc["source"])
    last = max(wanted)
    frames = []
    for index, image in read_media(source, max_frames=last + 1):
        if index in wanted:
            frames.append(LabelledFrame(index, image, wanted[index]))
    return frames


def shrunk(frames: Sequence[LabelledFrame], factor: float) -> list[LabelledFrame]:
    """The frames scaled by `factor` and centred on a grey canvas of their own size.

    The scene then fills a `factor` share of the view, as with a wider or farther camera:
    vtest's 60-100 px people become ~30 px at 1/3 **in the frame the model sees**. (Merely
    shrinking the image would not test that: the model's resize would enlarge it again.)
    Boxes are scaled and moved alike; the canvas is the letterbox grey (114).
    """
    import cv2

    out = []
    for frame in frames:
        h, w = frame.image.shape[:2]
        nw, nh = max(1, round(w * factor)), max(1, round(h * factor))
        canvas = np.full_like(frame.image, 114)
        x0, y0 = (w - nw) // 2, (h - nh) // 2
        small = cv2.resize(frame.image, (nw, nh), interpolation=cv2.INTER_AREA)
        canvas[y0 : y0 + nh, x0 : x0 + nw] = small
        sx, sy = nw / w, nh / h
        objects = [
            {
                **o,
                "box": [
                    o["box"][0] * sx + x0,
                    o["box"][1] * sy + y0,
                    o["box"][2] * sx + x0,
                    o["box"][3] * sy + y0,
                ],
            }
            for o in frame.objects
        ]
        out.append(LabelledFrame(frame.index, canvas, objects))
    return out


def score_class(
    frames: Sequence[LabelledFrame],
    detections: Sequence[Detections],
    class_ids: Sequence[int],
    labels: Sequence[str],
    iou_threshold: float = 0.5,
) -> MatchCounts:
    """TP/FP/FN over frames for one object kind (e.g. person, or the vehicle classes)."""
    total = MatchCounts()
    for frame, dets in zip(frames, detections, strict=True):
        gt, difficult = frame.boxes(labels)
        mine = dets[np.isin(dets.class_id, class_ids)]
        total += match_frame(mine.xyxy, mine.confidence, gt, difficult, iou_threshold)
    return total


def detect_all(
    detect: Callable[[list[np.ndarray]], list[Detections]], frames: Sequence[LabelledFrame]
) -> list[Detections]:
    """Run `detect` on each frame alone; one result per frame, in order."""
    return [detect([f.image])[0] for f in frames]


@dataclass(frozen=True)
class PrecisionAgreement:
    """How closely one precision's detections follow another's (e.g. INT8 vs FP32)."""

    persons_matched: int  # one-to-one same-box persons at the threshold
    persons_total: int  # per frame the larger of the two person counts, summed
    agreed: int  # every class, with the score margin (see `tolerant_agreement`)
    total: int

    @property
    def persons(self) -> float:
        """Share of persons matched one-to-one; 1.0 when neither side saw any."""
        return self.persons_matched / self.persons_total if self.persons_total else 1.0

    @property
    def all_classes(self) -> float:
        """Share of detections of every class that agree; 1.0 when there were none."""
        return self.agreed / self.total if self.total else 1.0


def precision_agreement(
    reference: Sequence[Detections],
    other: Sequence[Detections],
    threshold: float,
    margin: float,
    person_class: int = 0,
) -> PrecisionAgreement:
    """Compare per-frame detections made at `threshold - margin` or lower by two models."""
    matched = most = agreed = total = 0
    for a, b in zip(reference, other, strict=True):
        a_s, b_s = a[a.confidence >= threshold], b[b.confidence >= threshold]
        m, n_a, n_b = agreement(
            a_s[a_s.class_id == person_class], b_s[b_s.class_id == person_class]
        )
        matched, most = matched + m, most + max(n_a, n_b)
        x, y = tolerant_agreement(a, b, threshold, margin)
        agreed, total = agreed + x, total + y
    return PrecisionAgreement(matched, most, agreed, total)

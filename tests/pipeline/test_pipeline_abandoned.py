"""Abandoned objects through the real reader, motion gate, detector, tracker, static-object
model and rule, on clips built from real footage by scripts/make_abandoned_clip.py (how,
the labels and what was measured: docs/abandoned-eval.md, bench/abandoned.py).

Asserted is what is true of each scene, with tolerances that hold on any CPU (INT8 scores
differ in the third decimal between AVX2, VNNI and AMX kernels, which moves borderline
person boxes and so the owner's exact departure): a bag left behind raises exactly one
alert, on the bag, within a window after it was put down, naming an owner; in the other
scenes nothing alerts - not the parked van and car, the holdall and litter there since the
start, a person keeping still, a lighting change or vtest's cut at frame 404.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from agent.config.camera import CameraSpec
from agent.detect.object_detector import ObjectDetector
from agent.detections import box_iou
from agent.events.types import Abandoned, AnalyticsEvent, EventKind
from agent.pipeline.offline import analyze_video
from scripts import make_abandoned_clip as clips
from tests.pipeline.conftest import REPO

LABELS = REPO / "tests" / "data" / "labels" / "abandoned.json"
# Shortened from the 30 s / 20 s defaults so the clips stay short.
RULE = {"stationary_seconds": 8, "unattended_seconds": 6, "clear_seconds": 3}
ALERTING = (
    "left",
    pytest.param(
        "elsewhere",
        marks=pytest.mark.xfail(
            strict=True,
            reason="walkers passing over the bag on the road count as attending it and "
            "merge with its region (docs/abandoned-eval.md, 'What is not solved')",
        ),
    ),
)
QUIET = ("picked_up", "carried", "sitting", "lighting", "splice")


@dataclass(frozen=True)
class Outcome:
    alerts: list[tuple[int, AnalyticsEvent]]  # (clip frame, event)
    cleared: list[tuple[int, AnalyticsEvent]]
    truth: dict


def run_scenario(name: str, detector: ObjectDetector, tmp: Path) -> Outcome:
    clip = tmp / f"{name}.avi"
    truth = clips.make_clip(name, clip)
    spec = CameraSpec(id=name, source=str(clip), abandoned=RULE)
    alerts, cleared = [], []
    for frame in analyze_video(clip, spec, detector):
        alerts += [(frame.number, e) for e in frame.events if e.kind is EventKind.ABANDONED]
        cleared += [
            (frame.number, e) for e in frame.events if e.kind is EventKind.ABANDONED_CLEARED
        ]
    print(f"\n{name}: alerts {[(n, e.label, e.box) for n, e in alerts]}")
    return Outcome(alerts, cleared, truth)


def test_clips_are_deterministic_and_match_the_committed_labels(tmp_path: Path) -> None:
    make = clips.make_clip
    a, b = tmp_path / "a.avi", tmp_path / "b.avi"
    make("picked_up", a)
    make("picked_up", b)
    assert a.read_bytes() == b.read_bytes()
    labels = json.loads(LABELS.read_text())["scenarios"]
    assert set(labels) == set(clips.SCENARIOS)
    for name in ("carried", "near_vehicle"):
        truth = make(name, tmp_path / f"{name}.avi")
        assert labels[name]["expect_alert"] == truth["expect_alert"]
        assert labels[name]["put_frame"] == truth["put_frame"]
        assert labels[name]["rest_box"] == truth["rest_box"]
    assert len(make("carried", tmp_path / "c.avi")["bag_boxes"]) == 67


@pytest.mark.parametrize("name", ALERTING)
def test_a_bag_left_behind_alerts_once_on_the_bag(
    name: str, detector: ObjectDetector, tmp_path: Path
) -> None:
    out = run_scenario(name, detector, tmp_path)
    assert len(out.alerts) == 1, out.alerts
    number, alert = out.alerts[0]
    assert alert.box is not None
    bag = out.truth["bag_boxes"][str(number)]
    assert box_iou(np.array([alert.box]), np.array([bag]))[0, 0] >= 0.3
    delay = (number - out.truth["put_frame"]) / 10.0
    assert RULE["stationary_seconds"] <= delay <= 25.0, delay
    assert alert.detail_as(Abandoned).owner_track_id >= 0
    assert alert.detail_as(Abandoned).stationary_seconds >= RULE["stationary_seconds"]
    assert alert.detail_as(Abandoned).unattended_seconds >= RULE["unattended_seconds"]
    assert out.cleared == []  # it stays there to the end of the clip


def test_near_a_parked_vehicle_only_the_bag_can_alert(
    detector: ObjectDetector, tmp_path: Path
) -> None:
    """The bag's owner is a passer-by who is tracked at the moment it appears or not,
    depending on borderline person scores (ONNX Runtime here: one alert; OpenVINO: none,
    no owner). What holds on every CPU: the van and the car parked since frame 0 never
    alert, and an alert, if any, is the bag's."""
    out = run_scenario("near_vehicle", detector, tmp_path)
    assert len(out.alerts) <= 1
    for number, alert in out.alerts:
        bag = out.truth["bag_boxes"][str(number)]
        assert box_iou(np.array([alert.box]), np.array([bag]))[0, 0] >= 0.3


@pytest.mark.parametrize("name", QUIET)
def test_nothing_alerts_when_nothing_was_left(
    name: str, detector: ObjectDetector, tmp_path: Path
) -> None:
    out = run_scenario(name, detector, tmp_path)
    assert out.alerts == []

"""Traffic flow through the real pipeline on clips with known motion.

The clips are built by scripts/make_traffic_clip.py from tests/data/vtest.avi: its own
parked van and car, cut out and driven along the road at known speeds (how, and the scene
calibration: docs/traffic.md). They run through reader, motion gate, the shipped INT8
detector, ByteTrack and the line + traffic rule, and are scored by
agent.analytics.traffic_eval against the committed truth JSONs. Tolerances leave room for
one borderline detection more or less on another CPU (INT8 scores move in the 3rd
decimal); the figures measured here are in docs/traffic.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from agent.analytics import traffic_eval
from agent.config.base import parse_document
from agent.config.camera import CameraSpec
from agent.detect.object_detector import ObjectDetector
from bench.traffic import TRACKERS, Run, clip_script, report, run_scenario, scenario_spec
from tests.pipeline.conftest import EXAMPLES, REPO

TRUTH = REPO / "tests" / "data" / "traffic"
THRESHOLDS = (11.0, 22.0, 40.0)  # the rule's default congestion thresholds
LEVEL = {"free": 0, "moderate": 1, "heavy": 2, "jam": 3}


# Each clip takes about a minute through the pipeline on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(900)


class Runs:
    """Each scenario's clip made and run once, when a test first asks for it."""

    def __init__(self, detector: ObjectDetector, clips: Path) -> None:
        self.detector, self.clips = detector, clips
        self._done: dict[str, Run] = {}

    def __getitem__(self, name: str) -> Run:
        if name not in self._done:
            self._done[name] = run_scenario(name, self.detector, self.clips, TRACKERS["vehicles"])
        return self._done[name]


@pytest.fixture(scope="module")
def runs(detector: ObjectDetector, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return Runs(detector, tmp_path_factory.mktemp("traffic"))


def score(run: Run) -> traffic_eval.Score:
    truth = traffic_eval.true_vehicles(run.doc)
    return traffic_eval.match(truth, run.passages, run.t0)


@pytest.mark.parametrize("name", sorted(clip_script().SCENARIOS))
def test_clip_truth_is_the_committed_one(name: str) -> None:
    """The generator is deterministic and the committed truth is what it makes."""
    committed = json.loads((TRUTH / f"{name}.json").read_text())
    assert clip_script().render(name, None) == committed


def test_clip_video_is_deterministic(tmp_path: Path) -> None:
    render = clip_script().render
    render("stop_on_line", tmp_path / "a.avi")
    render("stop_on_line", tmp_path / "b.avi")
    assert (tmp_path / "a.avi").read_bytes() == (tmp_path / "b.avi").read_bytes()


def test_free_flow_counts_directions_and_speeds(runs: Runs) -> None:
    s = score(runs["free_flow"])
    print(report(runs["free_flow"], THRESHOLDS))
    assert len(s.pairs) >= 6 and len(s.extra) <= 1  # 8 vehicles, 15-50 km/h
    assert not s.wrong_direction
    assert len(s.wrong_lane) <= 1
    errors = sorted(abs(e.pct) for e in s.speeds)
    assert len(errors) >= 4
    assert errors[len(errors) // 2] <= 5.0  # median speed error, %
    assert errors[-1] <= 15.0


def test_wrong_way_alert_is_for_the_wrong_way_vehicle_only(runs: Runs) -> None:
    run = runs["wrong_way"]
    s = score(run)
    assert len(s.pairs) >= 4
    by_track = {p.track_id: t.id for t, p in s.pairs}
    assert [by_track.get(tid) for tid, _, _ in run.wrong_way] == [3]


def test_congestion_level_follows_the_constructed_density(runs: Runs) -> None:
    run = runs["congestion"]
    s = score(run)
    assert len(s.pairs) >= 6 and len(s.extra) <= 2
    expected = traffic_eval.true_intervals(run.doc, run.t0, 10.0, THRESHOLDS)
    full = [iv for iv in run.intervals if iv.start in expected]
    jams = [iv for iv in full if expected[iv.start].congestion == "jam"]
    free = [iv for iv in full if LEVEL[expected[iv.start].congestion] <= 1]
    assert len(jams) >= 2 and len(free) >= 1
    for iv in jams:  # the queue: 6 vehicles at 6 km/h, 7 m apart
        assert LEVEL[iv.congestion] >= 2
        true_density = expected[iv.start].density_per_km_lane
        assert iv.density_per_km_lane == pytest.approx(true_density, rel=0.3)
    for iv in free:
        assert LEVEL[iv.congestion] <= 1


@pytest.mark.parametrize("name", ["free_flow", "congestion", "two_lanes"])
def test_per_interval_flow(runs: Runs, name: str) -> None:
    run = runs[name]
    expected = traffic_eval.true_intervals(run.doc, run.t0, 10.0, THRESHOLDS)
    counted = sum(iv.count for iv in run.intervals)
    assert counted == len(run.passages)
    assert abs(counted - len(run.doc["vehicles"])) <= 2
    for iv in run.intervals:
        if iv.start in expected:
            assert abs(iv.count - expected[iv.start].count) <= 2, iv


def test_two_lanes_at_once_are_told_apart(runs: Runs) -> None:
    s = score(runs["two_lanes"])
    assert len(s.pairs) >= 5  # three pairs side by side
    assert not s.wrong_direction
    assert len(s.wrong_lane) <= 1


def test_vehicle_stopping_on_the_line_counts_once(runs: Runs) -> None:
    run = runs["stop_on_line"]
    s = score(run)
    stopper = next(t for t in traffic_eval.true_vehicles(run.doc) if t.stops)
    assert stopper in [t for t, _ in s.pairs]
    track = next(p.track_id for t, p in s.pairs if t == stopper)
    assert [p.direction for p in run.passages if p.track_id == track] == ["in"]
    assert not s.extra


def test_scenario_spec_is_a_valid_camera() -> None:
    doc = json.loads((TRUTH / "wrong_way.json").read_text())
    spec = scenario_spec(doc, Path("x.avi"), TRACKERS["vehicles"])
    assert spec.traffic[0].expected_direction == "in"
    assert spec.traffic[0].lanes == 2 and not spec.traffic[0].calibration.surveyed


def test_example_config_is_this_scene() -> None:
    """docs/examples/traffic.yaml is the camera the clips are measured with."""
    example = parse_document(CameraSpec, yaml.safe_load((EXAMPLES / "traffic.yaml").read_text()))
    doc = json.loads((TRUTH / "two_lanes.json").read_text())
    measured = scenario_spec(doc, Path("x.avi"), TRACKERS["vehicles"])
    assert example.lines[0].points == measured.lines[0].points
    assert example.traffic[0].calibration == measured.traffic[0].calibration
    assert example.tracker == measured.tracker

"""The pipeline's small parts: example configs, sequence store, JSONL sink, summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from agent.config.agent import load_box_config
from agent.config.camera import CameraSpec, load_camera_spec
from agent.errors import ConfigError, SpoolError
from agent.events.convert import EventMinter
from agent.events.types import Abandoned, AnalyticsEvent, LineCrossed, ZoneEnter, ZoneExit
from agent.pipeline.detector_setup import detector_threshold
from agent.pipeline.sequences import SequenceStore
from agent.pipeline.sinks import JsonlSink, read_jsonl
from agent.pipeline.summary import Summary, tables
from agent.uplink.desired import validate_document
from tests.pipeline.conftest import EXAMPLES


def test_example_configs_validate() -> None:
    camera = load_camera_spec(EXAMPLES / "camera.yaml")
    assert camera.id == "vtest" and camera.detect_fps == 5
    assert {r.id for r in camera.lines} == {"road", "drive"} and camera.abandoned is not None
    assert camera.traffic[0].line_id == "drive" and camera.zones[0].id == "junction"
    box = load_box_config(EXAMPLES / "agent.yaml")
    assert box.has_fleet and [c.id for c in box.cameras] == ["gate-north", "junction-east", "lobby"]
    assert not box.cameras[2].enabled
    # The analyze file can be pasted into a box's cameras list unchanged.
    doc = box.agent.model_dump(mode="json") | {"cameras": [camera.model_dump(mode="json")]}
    assert validate_document(yaml.safe_dump(doc), "desired state").cameras == (camera,)


def test_source_override_and_missing_source(tmp_path: Path) -> None:
    path = tmp_path / "cam.yaml"
    path.write_text("id: c1\nlines: [{id: l, points: [[0, 0], [10, 0]]}]\n")
    assert load_camera_spec(path, source="video.mp4", realtime=False).source == "video.mp4"
    with pytest.raises(ConfigError, match=r"cam\.yaml: 1 invalid field\(s\)\n  source: "):
        load_camera_spec(path)
    path.write_text("- not a mapping\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_camera_spec(path, source="v.mp4")


def test_pushed_config_with_a_bad_camera_is_refused() -> None:
    box = load_box_config(EXAMPLES / "agent.yaml").agent.model_dump(mode="json")
    box["cameras"] = [
        {
            "id": "x",
            "source": "a.mp4",
            "zones": [{"id": "z", "polygon": [[0, 0], [5, 5], [10, 10]]}],
        }
    ]
    with pytest.raises(
        ConfigError, match=r"(?s)desired state: .*cameras\[0\]\.zones\[0\]\.polygon"
    ):
        validate_document(yaml.safe_dump(box), "desired state")


def test_detector_runs_at_the_lowest_tracker_threshold() -> None:
    specs = [
        CameraSpec(id="a", source="a.mp4"),
        CameraSpec(id="b", source="b.mp4", tracker={"low_threshold": 0.1}),
    ]
    assert detector_threshold(specs) == 0.1
    assert detector_threshold(specs[:1]) == specs[0].tracker.low_threshold


def test_sequence_store_persists_and_refuses_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "sequences.json"
    store = SequenceStore(path)
    assert store.next_for("cam") == 1
    store.record("cam", 41)
    store.record("cam", 7)  # never goes back
    assert SequenceStore(path).next_for("cam") == 42
    assert json.loads(path.read_text()) == {"cam": 41}
    path.write_text("{not json")
    with pytest.raises(SpoolError, match="damaged sequence file"):
        SequenceStore(path)


def _events() -> list[AnalyticsEvent]:
    return [
        AnalyticsEvent(LineCrossed("in", "north"), "gate", 100.0, 3, "person", (1, 2, 3, 4), 0.9),
        AnalyticsEvent(LineCrossed("out", "north"), "gate", 101.0, 4, "bicycle", (1, 2, 3, 4), 0.8),
        AnalyticsEvent(ZoneEnter(0.0, 2), "z", 101.0, 3, "person"),
        AnalyticsEvent(ZoneExit(3.0, 1), "z", 104.0, 3, "person"),
        AnalyticsEvent(
            Abandoned(owner_track_id=3, stationary_seconds=30.0, unattended_seconds=21.0),
            "abandoned",
            130.0,
            9,
            "suitcase",
            (1, 2, 3, 4),
            0.7,
        ),
    ]


def test_jsonl_sink_round_trips_wire_events(tmp_path: Path) -> None:
    wire = EventMinter("cam").mint_all(_events())
    path = tmp_path / "out" / "events.jsonl"
    with JsonlSink(path) as sink:
        assert sink.write(wire[:2]) == 2 and sink.write([]) == 0
    with JsonlSink(path, append=True) as sink:
        sink.write(wire[2:])
    assert read_jsonl(path) == wire
    first = json.loads(path.read_text().splitlines()[0])
    assert first["line_crossing"] == {
        "line_id": "gate",
        "label": "person",
        "direction": "DIRECTION_IN",
        "direction_name": "north",
    }
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(Exception, match="cannot write events"):
        JsonlSink(blocked / "events.jsonl")


def test_summary_counts_what_the_events_say() -> None:
    spec = CameraSpec(
        id="c",
        source="a.mp4",
        lines=[{"id": "gate", "points": [[0, 0], [9, 0]], "in_name": "north"}],
        zones=[
            {"id": "z", "polygon": [[0, 0], [9, 0], [9, 9]]},
            {"id": "quiet", "polygon": [[0, 0], [9, 0], [9, 9]]},
        ],
    )
    summary = Summary(spec)
    summary.add(_events())
    assert summary.lines["gate"] == {"person": {"in": 1, "out": 0}, "bicycle": {"in": 0, "out": 1}}
    assert summary.line_totals("gate") == {"in": 1, "out": 1}
    z = summary.zones["z"]
    assert (z.entries, z.exits, z.max_occupancy, z.dwell) == (1, 1, 2, [3.0])
    assert summary.zones["quiet"].entries == 0  # configured, never entered: shown
    assert [a.kind for a in summary.alerts] == ["abandoned"]
    titles = [t.title for t in tables(summary)]
    assert titles == ["Line crossings", "Zones", "Alerts"]

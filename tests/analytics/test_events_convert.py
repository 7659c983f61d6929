"""Wire conversion: UUIDv7 ids, per-camera sequence, model versions, every event kind."""

import itertools
import math
import time
import uuid
from dataclasses import dataclass

import pytest

from agent.analytics.abandoned import OBJECT_ID_BASE, AbandonedObjectDetector
from agent.analytics.line import LineCounter
from agent.analytics.zones import PolygonZone
from agent.config.analytics import AbandonedConfig, LineConfig, ZoneConfig
from agent.events.convert import EventMinter
from agent.events.ids import UuidV7Generator, uuid7_millis
from agent.events.types import AnalyticsEvent, LineCrossed, TrafficInterval, WrongWay
from agent.motion.static_objects import StaticObject, StaticScene
from proto.oko.v1 import events_pb2
from tests.analytics.scenes import LABELS, foot_box, frame


@dataclass(frozen=True)
class Spec:
    name: str = "nanodet-m"
    version: str = "1.0.0"
    sha256: str = "ab" * 32


def test_uuid7_layout_order_and_uniqueness() -> None:
    gen = UuidV7Generator()
    before = time.time_ns() // 1_000_000
    ids = [gen() for _ in range(20_000)]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids, key=lambda u: u.int)  # strictly increasing in one process
    assert before <= uuid7_millis(ids[0]) <= time.time_ns() // 1_000_000 + 1


def test_uuid7_monotonic_when_clock_stalls_or_steps_back() -> None:
    clock = iter([5_000_000_000] * 5000 + [4_000_000_000] * 10 + [6_000_000_000])
    gen = UuidV7Generator(clock_ns=lambda: next(clock))
    ids = [gen().int for _ in range(5011)]
    assert all(a < b for a, b in itertools.pairwise(ids))
    assert ids[-1] >> 80 == 6000


def test_minter_sequence_ids_models_and_line_crossing() -> None:
    lc = LineCounter(
        LineConfig(id="gate", points=((0, 300), (800, 300)), in_name="entering"), LABELS
    )
    events = []
    for i, y in enumerate([200, 400]):
        events += lc.update(frame((4, "person", foot_box(100, y))), 1_700_000_000.25 + i)
    minter = EventMinter(
        "cam-7", device_id="box-1", site="depot", models=[Spec()], first_sequence=41
    )
    (msg,) = minter.mint_all(events)
    wire = events_pb2.Event.FromString(msg.SerializeToString())
    assert (wire.camera_id, wire.device_id, wire.site, wire.sequence) == (
        "cam-7",
        "box-1",
        "depot",
        41,
    )
    assert uuid.UUID(wire.event_id).version == 7
    assert wire.capture_time.ToNanoseconds() == 1_700_000_001_250_000_000
    assert wire.track_id == 4 and wire.box.y2 == pytest.approx(400)
    assert [(m.name, m.version, m.sha256) for m in wire.models] == [
        ("nanodet-m", "1.0.0", "ab" * 32)
    ]
    assert wire.WhichOneof("body") == "line_crossing"
    assert wire.line_crossing.direction == events_pb2.LineCrossing.DIRECTION_IN
    assert wire.line_crossing.direction_name == "entering"
    assert wire.line_crossing.label == "person"
    assert minter.next_sequence == 42


def test_zone_and_abandoned_events_convert() -> None:
    z = PolygonZone(
        ZoneConfig(id="bench", polygon=((0, 0), (500, 0), (500, 500), (0, 500)), loiter_seconds=1),
        LABELS,
    )
    evs = z.update(frame((1, "person", foot_box(100, 100))), 0.0)
    evs += z.update(frame((1, "person", foot_box(100, 100))), 2.0)
    evs += z.update(frame(), 5.0)
    ab = AbandonedObjectDetector(
        AbandonedConfig(stationary_seconds=1, unattended_seconds=1, require_owner=False), LABELS
    )
    bag = StaticScene((StaticObject(9, foot_box(300, 300, 30, 30), 10.0, 900.0),))
    suitcase = frame((-1, "suitcase", foot_box(300, 300, 30, 30)))
    for k in range(12):
        evs += ab.observe(bag, frame(), 10 + k * 0.2, raw=suitcase)
    minter = EventMinter("cam-1")
    msgs = minter.mint_all(evs)
    assert [m.sequence for m in msgs] == [1, 2, 3, 4]
    assert [m.zone.kind for m in msgs[:3]] == [
        events_pb2.ZoneEvent.KIND_ENTER,
        events_pb2.ZoneEvent.KIND_LOITERING,
        events_pb2.ZoneEvent.KIND_EXIT,
    ]
    assert msgs[2].zone.dwell_seconds == pytest.approx(2.0) and msgs[2].zone.occupancy == 0
    assert not msgs[2].HasField("box")  # vanished track: no box to report
    alert = msgs[3].abandoned_object
    assert alert.state == events_pb2.AbandonedObject.STATE_ALERT
    assert alert.owner_track_id == -1 and alert.label == "suitcase"
    assert msgs[3].track_id == OBJECT_ID_BASE + 9


def test_traffic_and_wrong_way_convert() -> None:
    flow = AnalyticsEvent(
        TrafficInterval(
            interval_start=960.0,
            interval_seconds=60.0,
            observed_seconds=59.8,
            counts={"car": 5, "bus": 1},
            count_in=4,
            count_out=2,
            mean_speed_kmh=float("nan"),
            speed_samples=0,
            density_per_km_lane=12.5,
            lanes=2,
            congestion="moderate",
            wrong_way=1,
            speeding=0,
        ),
        "lane",
        1020.0,
    )
    wrong = AnalyticsEvent(WrongWay("out", None), "lane", 1000.0, 3, "car", (1, 2, 3, 4), 0.8)
    f, w = EventMinter("c").mint_all([flow, wrong])
    tf = f.traffic_flow
    assert f.track_id == -1 and tf.interval_start.seconds == 960
    assert dict(tf.counts) == {"car": 5, "bus": 1}
    assert tf.mean_speed_kmh == 0.0 and not math.isnan(tf.mean_speed_kmh)
    assert tf.density_per_km == pytest.approx(25.0) and tf.lanes == 2
    assert tf.congestion == events_pb2.TrafficFlow.CONGESTION_MODERATE
    assert (tf.count_in, tf.count_out, tf.wrong_way_count) == (4, 2, 1)
    assert w.wrong_way.label == "car" and not w.wrong_way.HasField("speed_kmh")


def test_bad_event_spends_no_sequence() -> None:
    minter = EventMinter("cam", first_sequence=10)
    bad = AnalyticsEvent(LineCrossed("in"), "x", float("nan"))
    with pytest.raises(ValueError, match="capture time"):
        minter.mint(bad)
    assert minter.next_sequence == 10
    with pytest.raises(ValueError, match="camera_id"):
        EventMinter("")
    with pytest.raises(ValueError, match="first_sequence"):
        EventMinter("c", first_sequence=0)

"""The abandoned rule's owner logic on constructed static objects and person tracks.

The static-object model is exercised on real frames in tests/motion/test_static_objects.py
and end to end in tests/pipeline/test_pipeline_abandoned.py; here the scene is exact, so
the clocks, owner, covering, clearing and naming can be checked to the frame.
"""

from collections.abc import Callable

import numpy as np
import pytest

from agent.analytics.abandoned import OBJECT_ID_BASE, AbandonedObjectDetector
from agent.config.analytics import AbandonedConfig
from agent.detections import Detections
from agent.events.types import Abandoned, AbandonedCleared, EventKind
from agent.motion.static_objects import EndedObject, EndReason, StaticObject, StaticScene
from tests.analytics.scenes import LABELS, foot_box, frame

FPS = 5.0
CFG = AbandonedConfig(stationary_seconds=10, unattended_seconds=5, radius_scale=3, clear_seconds=2)
OWNER = 1
BAG_BOX = (300.0, 370.0, 330.0, 400.0)  # 30 px: attending radius 90 px
PUT = 5.0  # the bag's pixels stand still from here


def bag(t: float, object_id: int = 7, box: tuple = BAG_BOX) -> StaticScene:
    return (
        StaticScene((StaticObject(object_id, box, PUT, 900.0),)) if t >= PUT + 2 else StaticScene()
    )


Scene = Callable[[float], tuple[StaticScene, list]]


def play(scene: Scene, seconds: float, cfg: AbandonedConfig = CFG, raw: Callable | None = None):
    det = AbandonedObjectDetector(cfg, LABELS)
    events = []
    for k in range(int(seconds * FPS)):
        t = k / FPS
        static, rows = scene(t)
        for e in det.observe(static, frame(*rows), t, raw(t) if raw else None):
            events.append((round(t, 1), e))
    return events, det


def owner_leaves_at(leave: float, walk: float = 60.0):
    def scene(t: float) -> tuple[StaticScene, list]:
        x = 280 if t < leave else 280 + walk * (t - leave)
        rows = [(OWNER, "person", foot_box(x, 400, 40, 110))]
        rows.append((2, "person", foot_box(700, 150, 40, 100)))  # a bystander far away
        return bag(t), rows

    return scene


def test_alert_once_names_the_owner_after_both_clocks() -> None:
    events, det = play(owner_leaves_at(8.0), 60)
    assert [e.kind for _, e in events] == [EventKind.ABANDONED]  # no re-alert in 45 s more
    t, e = events[0]
    # Static from 5 -> 15. The owner's box (x +- 20) walks over the bag (centre x 315) and
    # is beyond 90 px once x > 425, at 8 + 145 / 60 = 10.42 -> unattended 5 s at 15.42.
    assert t == pytest.approx(15.42, abs=0.25)
    assert e.track_id == OBJECT_ID_BASE + 7 and e.box == BAG_BOX
    assert e.label == "object" and e.confidence == pytest.approx(0.5)
    assert e.detail_as(Abandoned).owner_track_id == OWNER
    assert (
        e.detail_as(Abandoned).stationary_seconds >= 10
        and e.detail_as(Abandoned).unattended_seconds >= 5
    )
    assert det.owner_of(OBJECT_ID_BASE + 7) == OWNER


def test_late_owner_departure_decides_the_time() -> None:
    events, _ = play(owner_leaves_at(20.0), 40)
    assert len(events) == 1
    assert events[0][0] == pytest.approx(22.42 + 5, abs=0.25)  # as above, 12 s later


def test_owner_standing_by_it_or_a_short_absence_never_alerts() -> None:
    def scene(t: float) -> tuple[StaticScene, list]:
        away = 12 <= t < 15  # 3 s away, under the 5 s threshold
        return bag(t), [] if away else [(OWNER, "person", foot_box(280, 400, 40, 110))]

    assert play(scene, 40)[0] == []


def test_passers_by_do_not_attend_someone_elses_bag() -> None:
    def scene(t: float) -> tuple[StaticScene, list]:
        static, rows = owner_leaves_at(8.0)(t)
        return static, [*rows, (5, "person", foot_box(350, 400, 40, 110))]  # loiters near

    events, _ = play(scene, 30)
    assert len(events) == 1 and events[0][1].detail_as(Abandoned).owner_track_id == OWNER


def test_a_person_or_vehicle_standing_still_is_not_an_object() -> None:
    def scene(t: float) -> tuple[StaticScene, list]:
        # The static region is the person's own pixels (and later a car's): covered.
        person = (OWNER, "person", foot_box(315, 400, 40, 110))
        car = (9, "car", (250.0, 340.0, 380.0, 420.0))
        return bag(t), [person] if t < 30 else [car]

    assert play(scene, 60)[0] == []


def test_nobody_at_it_when_it_appeared_means_no_owner_and_no_alert() -> None:
    def scene(t: float) -> tuple[StaticScene, list]:
        return bag(t), [(2, "person", foot_box(700, 150, 40, 100))]

    assert play(scene, 30)[0] == []
    cfg = CFG.model_copy(update={"require_owner": False})
    events, _ = play(scene, 30, cfg)
    assert len(events) == 1 and events[0][1].detail_as(Abandoned).owner_track_id == -1


def test_cleared_when_taken_away_and_no_second_alert_for_a_flicker() -> None:
    def scene(t: float) -> tuple[StaticScene, list]:
        static, rows = owner_leaves_at(8.0)(t)
        if 20 <= t < 21:  # a 1 s dropout, then found again under a new id
            return StaticScene(), rows
        if 21 <= t < 30:
            return bag(t, object_id=8), rows
        return (StaticScene(), rows) if t >= 30 else (static, rows)

    events, _ = play(scene, 40)
    assert [(e.kind, e.track_id) for _, e in events] == [
        (EventKind.ABANDONED, OBJECT_ID_BASE + 7),
        (EventKind.ABANDONED_CLEARED, OBJECT_ID_BASE + 8),
    ]
    t_clear, cleared = events[1]
    assert t_clear == pytest.approx(30 + CFG.clear_seconds, abs=0.3)
    assert cleared.detail_as(AbandonedCleared).owner_track_id == OWNER
    assert cleared.detail_as(AbandonedCleared).alerted_seconds == pytest.approx(
        t_clear - events[0][0]
    )


def test_absorbed_or_relearnt_objects_are_dropped_without_a_clear() -> None:
    def scene(t: float) -> tuple[StaticScene, list]:
        static, rows = owner_leaves_at(8.0)(t)
        if t >= 20:
            ended = (EndedObject(7, EndReason.RELEARNT),) if t < 20.1 else ()
            return StaticScene(ended=ended, relearnt=t < 20.1), rows
        return static, rows

    events, _ = play(scene, 30)
    assert [e.kind for _, e in events] == [EventKind.ABANDONED]


def test_a_bag_detection_on_it_names_it_and_raises_confidence() -> None:
    def raw(t: float) -> Detections:
        box = np.array([[302, 372, 331, 401], [600, 100, 640, 200]], np.float32)
        labels = [LABELS.index("suitcase"), LABELS.index("person")]
        return Detections(box, np.array([0.3, 0.9], np.float32), np.array(labels), np.full(2, -1))

    events, _ = play(owner_leaves_at(8.0), 20, raw=raw)
    assert len(events) == 1 and events[0][1].label == "suitcase"
    assert events[0][1].confidence == pytest.approx(0.5 + 0.5 * 0.3, abs=1e-6)


def test_config_rejects_absorbing_before_the_alert_could_fire() -> None:
    with pytest.raises(ValueError, match="absorb_seconds"):
        AbandonedConfig(
            stationary_seconds=60, unattended_seconds=60, background={"absorb_seconds": 100}
        )
    with pytest.raises(ValueError, match="shadow_ratio"):
        AbandonedConfig(background={"shadow_ratio": (0.9, 0.5)})
    assert AbandonedConfig(classes=()).classes == ()  # works without a classes list


def test_a_walker_crossing_the_bag_neither_attends_nor_hides_it() -> None:
    """A passer-by walking over the object (60 px/s, his box covering it for ~1 s around
    the alert time) is someone passing in front of it: the alert comes when it would
    without him, on the object."""

    def scene(t: float) -> tuple[StaticScene, list]:
        static, rows = owner_leaves_at(8.0)(t)
        x = 315 + 60 * (t - 15.0)  # over the bag's centre at 15 s
        return static, [*rows, (5, "person", foot_box(x, 405, 40, 110))]

    events, _ = play(scene, 30)
    assert [e.kind for _, e in events] == [EventKind.ABANDONED]
    assert events[0][0] == pytest.approx(15.42, abs=0.25)  # as with nobody passing
    assert events[0][1].detail_as(Abandoned).owner_track_id == OWNER


def test_someone_who_stops_on_it_is_that_person_until_he_moves_on() -> None:
    """A person who walks onto the region and stands there (longer than the settle time)
    is the static region: no alert while he stands; the clock restarts when he leaves."""

    def scene(t: float) -> tuple[StaticScene, list]:
        static, rows = owner_leaves_at(8.0)(t)
        if t < 12.0:
            x = 100 + 60 * (t - 8.5)  # walks in from the left
        elif t < 25.0:
            x = 315  # stands on the object
        else:
            x = 315 + 60 * (t - 25.0)  # walks on
        return static, [*rows, (5, "person", foot_box(x, 405, 40, 110))]

    events, _ = play(scene, 45)
    assert [e.kind for _, e in events] == [EventKind.ABANDONED]
    # Standing on it from 12 s, known to be still once the settle time (2 s) has passed;
    # he walks off at 25 s: his box is off the object at 25.6 s, and 5 s later it alerts.
    assert 30.0 <= events[0][0] <= 31.5


def test_the_owner_is_the_one_whose_feet_were_at_it() -> None:
    """Two people at the object when it appears: a walker passing in front, whose head
    and shoulders overlap it in the picture (feet 90 px below), and the one who put it
    down (feet beside it). The second is the owner; the walker's departure starts no
    clock while the owner stays."""

    def scene(t: float) -> tuple[StaticScene, list]:
        walker = (5, "person", foot_box(200 + 60 * t, 490, 40, 110))  # at the bag at 1.9 s
        owner = (OWNER, "person", foot_box(280, 400, 40, 110))
        return bag(t), [walker, owner]

    events, det = play(scene, 40)
    assert events == []
    assert det.owner_of(OBJECT_ID_BASE + 7) == OWNER

"""AbandonedObjectDetector on scripted scenes: who brought the bag, when it alerts, clears."""

from collections.abc import Callable

import pytest

from agent.analytics.abandoned import AbandonedObjectDetector
from agent.config.analytics import AbandonedConfig
from agent.events.types import EventKind
from tests.analytics.scenes import LABELS, foot_box, frame

FPS = 5.0
CFG = AbandonedConfig(stationary_seconds=10, unattended_seconds=5, radius_scale=3, clear_seconds=2)
BAG = 10  # bag track id
OWNER = 1
BAG_SIZE = 30  # px: attending radius 90 px from the bag's centre


def bag_box(x: float, y: float) -> tuple[float, float, float, float]:
    return foot_box(x, y, BAG_SIZE, BAG_SIZE)


Scene = Callable[[float], list[tuple[int, str, tuple[float, float, float, float]]]]


def play(
    scene: Scene, seconds: float, det: AbandonedObjectDetector | None = None, start: float = 0.0
) -> tuple[list, AbandonedObjectDetector]:
    det = det or AbandonedObjectDetector(CFG, LABELS)
    events = []
    for k in range(int(seconds * FPS)):
        t = start + k / FPS
        for e in det.update(frame(*scene(t)), t):
            events.append((round(t, 1), e))
    return events, det


def owner_drops_bag_and_leaves(t: float) -> list:
    """Owner walks in carrying the bag, puts it down at t=5 at x=300, walks off right."""
    x = min(50 + 50 * t, 300) if t < 5 else 300 + 60 * (t - 5)
    rows = [(OWNER, "person", foot_box(x, 400, 50, 120))] if x < 760 else []
    bag_x = x + 20 if t < 5 else 320
    rows.append((BAG, "backpack", bag_box(bag_x, 400)))
    # A bystander, farther from the bag than the owner when it first appears.
    rows.append((2, "person", foot_box(700, 150, 40, 100)))
    return rows


def test_alert_names_owner_once_with_timings() -> None:
    events, det = play(owner_drops_bag_and_leaves, 60)
    alerts = [(t, e) for t, e in events if e.kind is EventKind.ABANDONED]
    assert len(alerts) == 1 and len(events) == 1  # no re-alert during 45 s more
    t, e = alerts[0]
    # At rest from t=5 -> stationary at 15. The owner is beyond 90 px from t~6.3, so
    # unattended long enough by ~11.3; the later of the two decides.
    assert t == pytest.approx(15.0, abs=0.3)
    assert e.track_id == BAG and e.label == "backpack" and e.box is not None
    assert e.detail.owner_track_id == OWNER
    assert e.detail.stationary_seconds >= 10
    assert e.detail.unattended_seconds >= 5
    assert det.owner_of(BAG) == OWNER


def test_bag_carried_through_never_alerts() -> None:
    def scene(t: float) -> list:
        x = 20 + 15 * t  # slow walk across the whole view in ~50 s
        return [
            (OWNER, "person", foot_box(x, 400, 50, 120)),
            (BAG, "suitcase", bag_box(x + 30, 400)),
        ]

    events, _ = play(scene, 50)
    assert events == []


def test_put_down_then_picked_up_never_alerts() -> None:
    def scene(t: float) -> list:
        # Sets the bag down for 40 s, stands beside it (phone call), then leaves with it.
        x = 300 if t < 45 else 300 + 40 * (t - 45)
        bag_x = 330 if t < 45 else x + 30
        return [(OWNER, "person", foot_box(x, 400, 50, 120)), (BAG, "handbag", bag_box(bag_x, 400))]

    events, _ = play(scene, 60)
    assert events == []


def test_short_absence_of_owner_does_not_alert() -> None:
    def scene(t: float) -> list:
        away = 12 <= t < 15  # 3 s away, less than the 5 s unattended threshold
        rows = [(BAG, "backpack", bag_box(330, 400))]
        if not away:
            rows.append((OWNER, "person", foot_box(300, 400, 50, 120)))
        return rows

    events, _ = play(scene, 40)
    assert events == []


def test_clear_after_taken_away_and_no_second_alert() -> None:
    def scene(t: float) -> list:
        rows = owner_drops_bag_and_leaves(t)
        if t >= 30:  # someone else picks it up and walks away with it
            thief_x = 320 + 50 * (t - 30)
            rows = [r for r in rows if r[0] != BAG]
            rows += [
                (3, "person", foot_box(thief_x, 400, 50, 120)),
                (BAG, "backpack", bag_box(thief_x + 20, 400)),
            ]
        return rows

    events, _ = play(scene, 45)
    kinds = [(e.kind, e.track_id) for _, e in events]
    assert kinds == [(EventKind.ABANDONED, BAG), (EventKind.ABANDONED_CLEARED, BAG)]
    t_clear, cleared = events[1]
    assert t_clear == pytest.approx(30 + CFG.clear_seconds, abs=0.5)
    assert cleared.detail.owner_track_id == OWNER
    assert cleared.detail.alerted_seconds == pytest.approx(t_clear - events[0][0])


def test_clear_when_no_longer_detected_but_not_on_a_short_dropout() -> None:
    def scene(t: float) -> list:
        rows = owner_drops_bag_and_leaves(t)
        hidden = 20 <= t < 21 or t >= 30  # a 1 s dropout, then gone for good at 30
        return [r for r in rows if r[0] != BAG] if hidden else rows

    events, _ = play(scene, 40)
    assert [e.kind for _, e in events] == [EventKind.ABANDONED, EventKind.ABANDONED_CLEARED]
    assert events[1][0] == pytest.approx(30 + CFG.clear_seconds, abs=0.5)
    assert events[1][1].box is None


def test_new_track_id_on_the_same_spot_does_not_re_alert() -> None:
    def scene(t: float) -> list:
        rows = owner_drops_bag_and_leaves(t)
        if t >= 25:  # occluded, then the tracker gives the same bag a new id
            rows = [(11 if r[0] == BAG else r[0], r[1], r[2]) for r in rows]
        return rows

    events, det = play(scene, 50)
    assert [(e.kind, e.track_id) for _, e in events] == [(EventKind.ABANDONED, BAG)]
    assert det.owner_of(11) == OWNER


def test_unconfirmed_objects_never_alert() -> None:
    def scene(t: float) -> list:
        return [(-1, "suitcase", bag_box(330, 400))]

    events, _ = play(scene, 30)
    assert events == []


def test_no_person_near_when_it_appears_means_no_owner() -> None:
    def scene(t: float) -> list:
        return [(BAG, "suitcase", bag_box(330, 400)), (2, "person", foot_box(700, 100))]

    events, _ = play(scene, 20)
    assert len(events) == 1 and events[0][1].detail.owner_track_id == -1

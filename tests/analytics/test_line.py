"""LineCounter: direction, hysteresis, segment extent, unconfirmed tracks, classes."""

from collections.abc import Sequence

import numpy as np
import pytest

from agent.analytics.line import LineCounter
from agent.config.analytics import LineConfig
from agent.errors import ConfigError
from agent.events.types import EventKind, LineCrossed
from tests.analytics.scenes import LABELS, foot_box, frame

# Horizontal line y=300 from x=100 to x=500, pointing right: "in" = from above (left of the
# vector, image y down) to below.
LINE = {
    "id": "door",
    "points": [[100, 300], [500, 300]],
    "classes": ["person", "car"],
    "hysteresis_px": 10,
}


def counter(**over: object) -> LineCounter:
    return LineCounter(LineConfig.model_validate({**LINE, **over}), LABELS)


def walk(
    lc: LineCounter, ys: Sequence[float], tid: int = 1, x: float = 300, label: str = "person"
) -> list:
    events = []
    for i, y in enumerate(ys):
        events += lc.update(frame((tid, label, foot_box(x, y))), i * 0.2)
    return events


def test_direction_is_correct_both_ways() -> None:
    lc = counter(in_name="southbound", out_name="northbound")
    ev = walk(lc, [200, 250, 290, 310, 350, 400])
    assert [(e.kind, e.detail.direction, e.detail.direction_name) for e in ev] == [
        (EventKind.LINE_CROSSING, "in", "southbound")
    ]
    assert ev[0].track_id == 1 and ev[0].label == "person" and ev[0].rule_id == "door"
    # 290 and 310 lie inside the 10 px band; the crossing counts when 350 leaves it.
    assert ev[0].capture_time == pytest.approx(0.8)
    ev = walk(lc, [400, 320, 280, 200], tid=2)
    assert [e.detail.direction for e in ev] == ["out"]
    assert (lc.in_count, lc.out_count) == (1, 1)
    assert lc.counts == {"person": {"in": 1, "out": 1}}


def test_jitter_on_the_line_counts_once() -> None:
    lc = counter()
    ys = [250, 280, 295, 305, 296, 304, 292, 308, 299, 303, 320, 360]
    assert len(walk(lc, ys)) == 1
    assert lc.in_count == 1 and lc.out_count == 0


def test_box_straddling_the_line_counts_once() -> None:
    lc = counter()
    # Stands on the line (bottom-centre within the band) for many frames, then walks on.
    ys = [200, 250] + [300 + d for d in np.random.default_rng(0).uniform(-9, 9, 30)] + [350]
    assert len(walk(lc, ys)) == 1


def test_flicker_beyond_band_is_suppressed_by_min_frames_without_reverse_count() -> None:
    lc = counter(min_frames=2)
    # One frame seen across (a bad box), then back: no crossing, and no spurious "out".
    assert walk(lc, [250, 250, 330, 250, 250, 330, 250]) == []
    ev = walk(lc, [250, 330, 340, 350], tid=2)
    assert [e.detail.direction for e in ev] == ["in"]
    assert ev[0].capture_time == pytest.approx(0.4)  # counted on the second frame across


def test_without_hysteresis_jitter_would_count_repeatedly() -> None:
    # The same jitter with the band disabled: shows the band is what suppresses it.
    lc = counter(hysteresis_px=0)
    assert len(walk(lc, [250, 295, 305, 296, 304, 292, 308])) == 5


def test_unconfirmed_rows_never_count() -> None:
    lc = counter()
    # Several different unconfirmed objects (tracker_id -1) on both sides, every frame.
    for i in range(10):
        y = 200 if i % 2 else 400
        ev = lc.update(
            frame((-1, "person", foot_box(300, y)), (-1, "person", foot_box(350, 600 - y))), i
        )
        assert ev == []
    assert lc.in_count == lc.out_count == 0


def test_only_within_segment_extent() -> None:
    lc = counter()
    # Crossing at x=50 and x=560, outside the segment [100, 500]: not counted.
    assert walk(lc, [200, 400], x=50) == []
    assert walk(lc, [200, 400], tid=2, x=560) == []
    # Walking round the end: down outside, then back inside on the new side: no count.
    ev = []
    for i, (x, y) in enumerate([(300, 200), (50, 200), (50, 400), (300, 400)]):
        ev += lc.update(frame((3, "person", foot_box(x, y))), 10 + i)
    assert ev == []
    # A diagonal crossing through the segment whose end points project outside it counts.
    ev = []
    for i, (x, y) in enumerate([(60, 250), (140, 350)]):
        ev += lc.update(frame((4, "person", foot_box(x, y))), 20 + i)
    assert len(ev) == 1


def test_per_class_counts_and_class_filter() -> None:
    lc = counter()
    walk(lc, [200, 400], tid=1, label="car")
    walk(lc, [200, 400], tid=2, label="person")
    assert walk(lc, [200, 400], tid=3, label="truck") == []  # not configured
    assert lc.counts == {"car": {"in": 1, "out": 0}, "person": {"in": 1, "out": 0}}


def test_first_sighting_beyond_line_is_not_a_crossing_and_input_untouched() -> None:
    lc = counter()
    d = frame((1, "person", foot_box(300, 400)))
    before = d.xyxy.copy()
    assert lc.update(d, 0.0) == []
    np.testing.assert_array_equal(d.xyxy, before)


def test_unknown_class_is_a_config_error_naming_the_line() -> None:
    with pytest.raises(ConfigError, match=r"lines\[door\].classes: 'unicorn'"):
        counter(classes=["unicorn"])


def test_crossing_made_while_tentative_counts_once_confirmed_from_birth_box() -> None:
    births = {1: foot_box(300, 250), 2: foot_box(300, 302), 3: foot_box(30, 250)}

    def origins(ids: np.ndarray) -> np.ndarray:
        return np.array([births.get(int(i), (np.nan,) * 4) for i in ids], np.float64)

    lc = LineCounter(LineConfig.model_validate(LINE), LABELS, origins=origins)
    # Born above the line, first confirmed below it: one "in", at confirmation.
    ev = lc.update(frame((1, "person", foot_box(300, 350))), 1.0)
    assert [(e.track_id, e.detail_as(LineCrossed).direction) for e in ev] == [(1, "in")]
    assert walk(lc, [360, 380, 400], tid=1) == []  # and only once
    # Born inside the dead band: its birth says nothing; first sighting fixes the side.
    assert lc.update(frame((2, "person", foot_box(300, 350))), 1.0) == []
    # Born beyond the end of the segment: moving from there is no crossing of the segment.
    assert lc.update(frame((3, "person", foot_box(150, 400))), 1.0) == []
    # Unknown birth (NaN): falls back to first sighting.
    assert lc.update(frame((4, "person", foot_box(300, 350))), 1.0) == []
    assert lc.in_count == 1


def _steps(lc: LineCounter, steps: Sequence[tuple[float, bool]], tid: int = 1) -> list:
    """(foot y, predicted) per frame at 5 fps."""
    events = []
    for i, (y, predicted) in enumerate(steps):
        d = frame((tid, "person", foot_box(300, y)))
        events += lc.update(d, i * 0.2, predicted=predicted)
    return events


def test_a_prediction_across_the_line_counts_nothing_until_a_detection_confirms_it() -> None:
    """A skipped frame's predicted position beyond the line, then a detection back short
    of it (the person stopped): no crossing either way. Then a real crossing made while
    the detector skipped is counted once, on the detection after it."""
    lc = counter()
    events = _steps(lc, [(200, False), (260, False), (330, True), (280, False), (270, False)])
    assert events == [] and (lc.in_count, lc.out_count) == (0, 0)
    more = _steps(lc, [(280, False), (340, True), (360, False), (380, True), (400, False)], tid=2)
    assert [(e.capture_time, e.detail.direction) for e in more] == [(pytest.approx(0.4), "in")]
    assert (lc.in_count, lc.out_count) == (1, 0)


def test_predictions_straddling_the_line_with_detections_never_double_count() -> None:
    """Predicted and detected positions alternating on either side of the line (the
    prediction overshooting each step) count the one real crossing once, with min_frames
    1 and 2."""
    for min_frames in (1, 2):
        lc = counter(min_frames=min_frames)
        ys = [200, 250, 290, 340, 280, 330, 285, 350, 400, 420, 440, 460]
        steps = [(y, k % 2 == 1) for k, y in enumerate(ys)]  # odd frames predicted
        events = _steps(lc, steps)
        # Detected: 200, 290, 280, 285, 400, 440 -> one "in" when 400 (min_frames 1) or
        # 440 (min_frames 2: two detections beyond the band) is detected.
        assert [e.detail.direction for e in events] == ["in"], (min_frames, events)
        assert events[0].capture_time == pytest.approx(1.6 if min_frames == 1 else 2.0)

"""FaceAnalyzer on real photographs through the real face models.

Each "track" is a short sequence of frames made from one real photo (astronaut.png,
grace_hopper.jpg, messi5.jpg: one real person each) at different scales, blur and
brightness, with the person box NanoDet really found on the photo (see faces_support).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pytest

from agent.analytics.faces import FaceAnalyzer
from agent.detections import Detections, box_iou
from agent.events.types import AnalyticsEvent, EventKind, FaceShot
from agent.faces.align import align_face
from agent.faces.embedding import cosine, decode_float16, decode_int8
from agent.faces.quality import head_regions
from tests.analytics.faces_support import (
    PHOTOS,
    View,
    analyzer,
    empty_frame,
    face_models,
    person_box,
    photo,
)
from tests.test_face_models import KNOWN

BEST = View(1.0)
#: Worse views first and last, the best in the middle: the best must win wherever it is.
TRACK = (View(0.35), View(1.0, blur=0.03), BEST, View(0.6, blur=0.03, gain=0.6))


def run_track(
    fa: FaceAnalyzer,
    name: str,
    track_id: int,
    views: Sequence[View],
    *,
    start: float,
    step: float = 0.2,
) -> tuple[list[AnalyticsEvent], list[float]]:
    """Feed one track's frames; returns the events and each frame's timestamp."""
    events, times = [], []
    for i, view in enumerate(views):
        t = start + i * step
        frame, tracks = view.render(name, track_id)
        events += fa.update(frame, tracks, t)
        times.append(t)
    return events, times


def end_all(fa: FaceAnalyzer, at: float) -> list[AnalyticsEvent]:
    frame, tracks = empty_frame()
    return fa.update(frame, tracks, at)


def vector(event: AnalyticsEvent) -> np.ndarray:
    p = event.detail_as(FaceShot)
    decode = decode_float16 if p.encoding == "float16" else decode_int8
    return decode(p.embedding, p.dimensions)[0]


@pytest.fixture(scope="module")
def tracks_a() -> dict[str, tuple[AnalyticsEvent, list[float]]]:
    """One track per person with TRACK's views, one after the other, emit_quality off."""
    fa = analyzer(emit_quality=1.0, track_lost_seconds=1.0)
    events: list[AnalyticsEvent] = []
    times = {}
    for k, name in enumerate(PHOTOS):
        found, times[name] = run_track(fa, name, k + 1, TRACK, start=10.0 * k)
        events += found
    events += end_all(fa, 100.0)
    assert [e.kind for e in events] == [EventKind.FACE] * len(events)
    by_track = {e.track_id: e for e in events}
    assert sorted(e.track_id for e in events) == [1, 2, 3], "exactly one event per track"
    return {name: (by_track[k + 1], times[name]) for k, name in enumerate(PHOTOS)}


def test_one_event_per_track_carrying_the_sharpest_largest_shot(
    tracks_a: dict[str, tuple[AnalyticsEvent, list[float]]],
) -> None:
    for name, (event, times) in tracks_a.items():
        p = event.detail_as(FaceShot)
        assert event.capture_time == times[TRACK.index(BEST)], f"{name}: not the best shot"
        assert p.reason == "track_lost"
        truth = np.array(KNOWN[name], np.float32)
        assert box_iou(truth[None], np.array(p.face_box)[None])[0, 0] > 0.5, name
        assert event.box == pytest.approx(person_box(name))
        assert 0.4 <= p.quality <= 1.0 and p.detector_score >= 0.6
        assert p.shot.shape == (112, 112, 3) and not p.shot.flags.writeable
        assert p.dimensions == 1024 and len(p.embedding) == 2 * 1024
        assert p.embedder.name == "faceres"


def test_same_person_across_tracks_closer_than_different_people(
    tracks_a: dict[str, tuple[AnalyticsEvent, list[float]]],
) -> None:
    """Second tracks from other views of the same photos (smaller, darker, int8 encoding)."""
    fa = analyzer(emit_quality=1.0, encoding="int8")
    second = {}
    for k, name in enumerate(PHOTOS):
        events, _ = run_track(
            fa, name, 10 + k, [View(0.8, gain=0.7), View(0.8, blur=0.01)], start=10.0 * k
        )
        events += end_all(fa, 10.0 * k + 5)
        (second[name],) = events
    a = np.stack([vector(tracks_a[n][0]) for n in PHOTOS])
    b = np.stack([vector(second[n]) for n in PHOTOS])
    sim = cosine(a, b)
    same = np.diag(sim)
    different = sim[~np.eye(len(PHOTOS), dtype=bool)]
    assert same.min() > different.max(), sim.round(3)
    assert same.min() > 0.65  # the manifest's same-person threshold


def test_float16_payload_is_the_embedding_of_the_best_face(
    tracks_a: dict[str, tuple[AnalyticsEvent, list[float]]],
) -> None:
    """Redo detect -> align -> embed on the best frame by hand; the payload decodes to it."""
    detector, embedder = face_models()
    for name, (event, _) in tracks_a.items():
        frame = photo(name)
        ((x1, y1, x2, y2),) = head_regions(np.array([person_box(name)]), frame.shape[:2])
        (faces,) = detector.detect([frame[y1:y2, x1:x2]])
        assert faces.keypoints is not None
        keypoints = faces.keypoints[int(np.argmax(faces.confidence))] + np.array([x1, y1])
        expected = embedder.embed(align_face(frame, keypoints, embedder.size)[None])[0]
        assert float(cosine(vector(event), expected)[0, 0]) > 0.999, name


def test_quality_gate_rejects_blurred_out_and_tiny_faces() -> None:
    fa = analyzer()
    blurred = [View(1.0, blur=0.06), View(1.0, blur=0.08)]
    events: list[AnalyticsEvent] = []
    for k, name in enumerate(PHOTOS):
        tiny = View(12 / (KNOWN[name][2] - KNOWN[name][0]))  # face ~12 px wide
        events += run_track(fa, name, 20 + k, blurred, start=10.0 * k)[0]
        events += run_track(fa, name, 30 + k, [tiny, tiny], start=10.0 * k + 3)[0]
    events += fa.flush(100.0)
    assert events == []
    # The same blurred track followed by one sharp frame does report (the gate, not the
    # models, kept the blurred faces out).
    found, times = run_track(fa, "astronaut.png", 40, [*blurred, BEST], start=200.0)
    found += fa.flush(300.0)
    assert [e.capture_time for e in found] == [times[-1]]


def test_unconfirmed_tracks_never_produce_faces() -> None:
    fa = analyzer(emit_quality=0.5)
    events: list[AnalyticsEvent] = []
    for k, name in enumerate(PHOTOS):
        events += run_track(fa, name, -1, [BEST, BEST], start=10.0 * k)[0]
    events += fa.flush(100.0)
    assert events == [] and fa.crops_examined == 0


def test_emit_quality_reports_early_and_only_once() -> None:
    fa = analyzer(emit_quality=0.9, track_lost_seconds=1.0)
    views = [View(0.35), BEST, BEST, View(1.0, blur=0.01), BEST]
    per_frame = []
    embedded = []
    for i, view in enumerate(views):
        frame, tracks = view.render("astronaut.png", 7)
        per_frame.append(fa.update(frame, tracks, float(i)))
        embedded.append(fa.faces_embedded)
    assert [len(e) for e in per_frame] == [0, 1, 0, 0, 0]
    (event,) = per_frame[1]
    assert (
        event.detail_as(FaceShot).reason == "quality" and event.detail_as(FaceShot).quality >= 0.9
    )
    assert embedded[1] == embedded[-1], "a reported track costs no more embeddings"
    assert end_all(fa, 50.0) == [] and fa.flush(60.0) == []


def test_budget_examines_the_bigger_person_first_then_the_one_without_a_shot() -> None:
    """Two real people side by side in one frame, one head crop per frame allowed."""
    left, right = photo("grace_hopper.jpg"), photo("astronaut.png")
    scale = left.shape[0] / right.shape[0]
    right = cv2.resize(right, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.hstack([left, right])
    box_r = np.array(person_box("astronaut.png")) * scale + [left.shape[1], 0, left.shape[1], 0]
    boxes = np.array([box_r, person_box("grace_hopper.jpg")], np.float32)
    tracks = Detections(boxes, np.full(2, 0.8, np.float32), np.zeros(2, np.int64), np.array([1, 2]))
    assert tracks.area[1] > tracks.area[0]
    fa = analyzer(max_faces_per_frame=1, emit_quality=1.0)
    examined = []
    for t in range(3):
        fa.update(frame, tracks, float(t))
        examined.append(fa.crops_examined)
    assert examined == [1, 2, 3]
    events = fa.flush(3.0)
    assert sorted(e.track_id for e in events) == [1, 2]
    first = {e.track_id: e.capture_time for e in events}
    assert first[2] == 0.0  # the larger person went first (frame 2 was no better)
    assert first[1] == 1.0  # then the track still without a shot


def test_bad_frame_is_refused_and_loses_nothing() -> None:
    fa = analyzer(emit_quality=1.0)
    run_track(fa, "astronaut.png", 5, [BEST], start=0.0)
    _, tracks = BEST.render("astronaut.png", 5)
    grey = cv2.cvtColor(photo("astronaut.png"), cv2.COLOR_BGR2GRAY)
    with pytest.raises(ValueError, match=r"shape \(h, w, 3\)"):
        fa.update(grey, tracks, 0.5)
    with pytest.raises(ValueError, match="uint8"):
        fa.update(photo("astronaut.png").astype(np.float32), tracks, 0.5)
    (event,) = fa.flush(1.0)
    assert event.track_id == 5 and event.capture_time == 0.0


def test_camera_analytics_runs_faces_on_its_confirmed_tracks() -> None:
    """Through CameraAnalytics: real NanoDet boxes, the real tracker, faces from the frame."""
    from agent.analytics.camera import CameraAnalytics
    from agent.config.analytics import CameraAnalyticsConfig, FaceConfig
    from tests.analytics.faces_support import object_detector

    detector = object_detector()
    frame = photo("astronaut.png")
    (found,) = detector.detect([frame])
    cam = CameraAnalytics(
        CameraAnalyticsConfig(faces=FaceConfig(emit_quality=1.0)),
        detector.labels,
        faces=analyzer(emit_quality=1.0),
    )
    events = []
    for t in range(4):
        out = cam.update(found, float(t), frame)
        events += out.events
    events += cam.flush(4.0)
    faces = [e for e in events if e.kind is EventKind.FACE]
    assert len(faces) == 1 and faces[0].track_id >= 1
    assert cam.update(found, 5.0).events == []  # no frame given: faces are not run

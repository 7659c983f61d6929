"""The console's pure parts: sessions, JPEG checks, counts, charts, the box's live leases."""

from __future__ import annotations

import uuid
from typing import Any

import cv2
import numpy as np
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.pipeline.live import encode
from agent.uplink.live import MAX_FPS, MAX_VIEWS, LiveViewer
from fleet.auth import Principal, Role
from fleet.console import charts
from fleet.console.counts import Window, aggregate
from fleet.console.jpeg import JpegError, check_jpeg
from fleet.console.page_counts import build_charts
from fleet.console.sessions import ConsoleSessions
from fleet.store.records import StoredEvent
from proto.oko.v1 import console_pb2, events_pb2
from tests.support.media import VTEST


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def who(token_id: str = "t1", expires_us: int = 0) -> Principal:
    return Principal(token_id, f"name-{token_id}", Role.OPERATOR, expires_us)


# -- sessions ------------------------------------------------------------------------------
def test_sessions_end_when_idle_at_their_absolute_end_or_with_their_token() -> None:
    clock = Clock()
    sessions = ConsoleSessions(max_s=100, idle_s=10, max_sessions=10, clock=clock)
    cookie, session = sessions.create(who())
    clock.now += 9
    assert sessions.lookup(cookie) == (session, "")
    clock.now += 9  # 18 s after login but only 9 s idle
    assert sessions.lookup(cookie)[0] is session
    clock.now += 10
    assert sessions.lookup(cookie) == (None, "idle")
    assert sessions.lookup(cookie) == (None, "")  # forgotten once ended

    cookie, session = sessions.create(who())
    for _ in range(11):  # always active, still ends at max_s
        clock.now += 9.5
        sessions.touch(session)
    assert sessions.lookup(cookie) == (None, "expired")

    soon = int((clock.now + 5) * 1e6)
    cookie, session = sessions.create(who("t2", expires_us=soon))
    assert session.expires_s == pytest.approx(clock.now + 5)
    clock.now += 5
    assert sessions.lookup(cookie) == (None, "expired")


def test_sessions_are_bounded_and_end_with_their_token() -> None:
    sessions = ConsoleSessions(max_s=100, idle_s=10, max_sessions=3, clock=Clock())
    cookies = [sessions.create(who(f"t{i % 2}"))[0] for i in range(4)]
    assert len(sessions) == 3 and sessions.lookup(cookies[0])[0] is None  # oldest evicted
    assert sessions.end_token("t1") == 2
    assert [sessions.lookup(c)[0] is not None for c in cookies[1:]] == [False, True, False]
    assert sessions.lookup("not-a-cookie") == (None, "")


def test_csrf_tokens_compare_exactly() -> None:
    _, session = ConsoleSessions(100, 10, 10).create(who())
    assert session.csrf_ok(session.csrf)
    assert not session.csrf_ok("")
    assert not session.csrf_ok(session.csrf[:-1])
    assert not session.csrf_ok(session.csrf + "x")


# -- JPEG --------------------------------------------------------------------------------------
def frame() -> np.ndarray:
    cap = cv2.VideoCapture(str(VTEST))
    ok, img = cap.read()
    cap.release()
    assert ok
    return img


def jpeg(img: np.ndarray, *flags: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, list(flags))
    assert ok
    return buf.tobytes()


def test_real_jpegs_pass_with_their_size() -> None:
    img = frame()
    assert check_jpeg(jpeg(img), 960, 1920).width == 768
    progressive = jpeg(img, cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    info = check_jpeg(progressive, 960, 1920)
    assert (info.width, info.height) == (768, 576)


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda b: b"GIF89a" + b[6:], "start-of-image"),
        (lambda b: b[:-2], "end-of-image"),
        (lambda b: b[:2] + b"\x00\x00" + b[4:], "no marker"),
        (lambda b: b[:100] + b"\xff\xd9", "runs past the end"),
        (lambda b: b"\xff\xd8\xff\xda\x00\x02" + b[2:], "scan before any frame header"),
    ],
)
def test_broken_jpegs_are_refused_with_the_reason(mangle, reason: str) -> None:
    with pytest.raises(JpegError, match=reason):
        check_jpeg(mangle(jpeg(frame())), 960, 1920)


def test_a_jpeg_larger_than_the_bounds_is_refused() -> None:
    with pytest.raises(JpegError, match=r"768x576 is outside 1x1\.\.640x1280"):
        check_jpeg(jpeg(frame()), 640, 1280)


# -- counts and charts -----------------------------------------------------------------------
T0 = 1_750_000_000_000_000


def stored(cursor: int, at_us: int, event: events_pb2.Event, camera: str = "cam") -> StoredEvent:
    kind = event.WhichOneof("body") or "?"
    payload = event.SerializeToString()
    return StoredEvent(
        cursor, str(uuid.uuid4()), "dev", camera, "site", kind, at_us, at_us, payload
    )


def crossing(direction: Any, label: str = "person") -> events_pb2.Event:
    body = events_pb2.LineCrossing(line_id="l1", label=label, direction=direction)
    return events_pb2.Event(line_crossing=body)


def zone_event(label: str, kind: Any, occupancy: int) -> events_pb2.Event:
    body = events_pb2.ZoneEvent(zone_id="z", label=label, kind=kind, occupancy=occupancy)
    return events_pb2.Event(zone=body)


def test_counts_bucket_crossings_sum_zone_occupancy_and_sort_traffic() -> None:
    window = Window(T0, T0 + 60_000_000, 20_000_000)  # three 20 s intervals
    zone = events_pb2.ZoneEvent
    flows = [
        events_pb2.Event(
            traffic_flow=events_pb2.TrafficFlow(
                line_id="road", interval_start=Timestamp(seconds=T0 // 10**6 + s), count_in=n,
                mean_speed_kmh=30.0 + n, congestion=events_pb2.TrafficFlow.CONGESTION_FREE,
            )
        )
        for s, n in ((40, 4), (10, 1))
    ]  # fmt: skip
    events = [
        stored(1, T0 + 1_000_000, crossing(events_pb2.LineCrossing.DIRECTION_IN)),
        stored(2, T0 + 2_000_000, crossing(events_pb2.LineCrossing.DIRECTION_OUT, "bicycle")),
        stored(3, T0 + 45_000_000, crossing(events_pb2.LineCrossing.DIRECTION_IN)),
        stored(4, T0 + 90_000_000, crossing(events_pb2.LineCrossing.DIRECTION_IN)),  # too late
        stored(5, T0 + 3_000_000, zone_event("person", zone.KIND_ENTER, 2)),
        stored(6, T0 + 4_000_000, zone_event("car", zone.KIND_ENTER, 1)),
        stored(7, T0 + 25_000_000, zone_event("person", zone.KIND_EXIT, 1)),
        stored(8, T0 + 50_000_000, flows[0], camera="cam2"),
        stored(9, T0 + 20_000_000, flows[1], camera="cam2"),
        StoredEvent(10, "x", "dev", "cam", "site", "zone", T0, T0, b"\xff\xff\xff"),
        stored(11, T0, events_pb2.Event(face=events_pb2.Face(quality=0.5))),  # not a count type
    ]  # fmt: skip
    counts = aggregate(window, events)
    line = counts.lines[("cam", "l1")]
    assert (line.count_in, line.count_out) == ([1, 0, 1], [1, 0, 0])
    assert line.labels == {"person": 2, "bicycle": 1}
    z = counts.zones[("cam", "z")]
    assert [n for _, n in z.occupancy] == [2, 3, 2] and z.enters == [2, 0, 0]
    traffic = counts.traffic[("cam2", "road")]
    assert [p.count_in for p in traffic.points] == [1, 4]  # sorted by interval start
    assert counts.unreadable == 1 and counts.events == 9
    drawn = build_charts(counts)
    assert [c.heading for c in drawn] == [
        "cam · line l1",
        "cam2 · traffic on road",
        "cam2 · speed and density on road",
        "cam2 · congestion on road",
        "cam · zone z occupancy",
        "cam · zone z entries",
    ]
    assert drawn[0].note == "crossings by class: bicycle 1, person 2"
    assert drawn[3].note == "latest: free" and "<polyline" in drawn[2].svg


def test_chart_text_is_escaped_and_axes_are_round() -> None:
    svg = charts.bars("in <b>x</b>", [T0, T0 + 1], 1, [("<script>", [3.0, 7.0], "in")])
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "<script>" not in svg
    assert ">10</text>" in svg  # 7 rounds up to an axis of 10
    line = charts.lines("t", T0, T0 + 10, [("a&b", [(T0, 1.0), (T0 + 5, 2.0)], "in")], step=True)
    assert "a&amp;b" in line and "<polyline" in line


# -- the box's side ----------------------------------------------------------------------------
def start(
    view_id: str, camera: str = "cam", fps: float = 4, lease: int = 3
) -> console_pb2.LiveViewRequest:
    return console_pb2.LiveViewRequest(
        action=console_pb2.LiveViewRequest.ACTION_START, view_id=view_id, camera_id=camera,
        max_fps=fps, lease_seconds=lease,
    )  # fmt: skip


def test_the_box_streams_only_within_a_renewed_lease() -> None:
    clock = Clock()
    viewer = LiveViewer(clock)
    assert viewer.due() == ([], 3600.0)  # nothing asked, nothing sent
    viewer.request(start("v1", fps=100))
    due, _ = viewer.due()
    assert [v.view_id for v in due] == ["v1"] and due[0].interval_s == 1 / MAX_FPS
    clock.now += 2
    viewer.request(start("v1"))  # renewal
    clock.now += 2.5
    assert viewer.due()[0]
    clock.now += 1
    assert viewer.due() == ([], 3600.0) and not viewer.views  # lease ran out
    viewer.request(start("v2"))
    viewer.request(
        console_pb2.LiveViewRequest(action=console_pb2.LiveViewRequest.ACTION_STOP, view_id="v2")
    )
    assert not viewer.views


def test_the_box_bounds_what_the_fleet_asks() -> None:
    viewer = LiveViewer(Clock())
    for i in range(MAX_VIEWS + 3):
        viewer.request(start(f"v{i}"))
    viewer.request(start(""))
    viewer.request(start("x" * 65))
    assert len(viewer.views) == MAX_VIEWS
    view = viewer.views["v0"]
    assert view.max_width == 960 and view.max_bytes == 256 * 1024
    first = console_pb2.LiveFrame(capture_time=Timestamp(seconds=5))
    assert viewer.fresh(view, first) and not viewer.fresh(view, first)  # the same frame once


def test_frames_are_scaled_and_fit_their_byte_limit() -> None:
    img = frame()
    out = encode(img, 1_750_000_000.5, 3, 400, 256 * 1024)
    assert (out.width, out.height) == (400, 300) and out.tracks == 3 and not out.error
    assert check_jpeg(out.jpeg, 400, 800).width == 400
    assert out.capture_time.seconds == 1_750_000_000 and out.capture_time.nanos == 500_000_000
    small = encode(img, 1.0, 0, 960, 40_000)
    assert 36_000 < len(small.jpeg) <= 40_000 and not small.error  # quality lowered to fit
    none = encode(img, 1.0, 0, 960, 1000)
    assert none.error.startswith("a 768x576 frame does not fit in 1000 bytes") and not none.jpeg


def test_failed_logins_are_throttled_per_address_for_a_minute() -> None:
    from fleet.console.page_login import MAX_FAILURES, LoginThrottle

    clock = Clock()
    throttle = LoginThrottle(clock)
    for _ in range(MAX_FAILURES):
        assert not throttle.blocked("10.0.0.1")
        throttle.failed("10.0.0.1")
    assert throttle.blocked("10.0.0.1") and not throttle.blocked("10.0.0.2")
    clock.now += 61
    assert not throttle.blocked("10.0.0.1")


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2048), cut=st.integers(0, 4096), flip=st.integers(0, 255))
def test_the_jpeg_check_refuses_anything_but_well_formed_jpegs_and_never_crashes(
    data: bytes, cut: int, flip: int
) -> None:
    real = _REAL_JPEG[:]
    mangled = bytearray(real[: max(4, cut)] + data + real[-2:])
    mangled[min(len(mangled) - 1, cut)] ^= flip
    for candidate in (bytes(data), bytes(mangled)):
        try:
            info = check_jpeg(candidate, 960, 1920)
        except JpegError:
            continue
        assert 0 < info.width <= 960 and 0 < info.height <= 1920
        assert candidate.startswith(b"\xff\xd8") and candidate.endswith(b"\xff\xd9")


_REAL_JPEG = jpeg(frame())

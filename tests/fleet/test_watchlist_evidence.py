"""Evidence on demand over real gRPC/TLS: the fleet asks a (test) box for an alert's face
shot on its Connect stream, keeps what the box sends only after checking it, and gives it
to viewers through an audited call. Real photos and models raise the alerts.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
import stat
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from fleet.watchlists.evidence import WINDOW
from fleet.watchlists.evidence_check import MAX_EVIDENCE_BYTES
from proto.oko.v1 import admin_pb2, agent_pb2, events_pb2, stream_pb2
from proto.oko.v1 import watchlists_pb2 as pb
from proto.transport import bearer_metadata
from tests.fleet import watchlist_helpers as wh
from tests.fleet.conftest import Fleet, running_fleet
from tests.fleet.helpers import AgentStream, Identity, event_stub, new_device
from tests.fleet.test_watchlist_alerts import _take, ctl

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]


@functools.cache
def collins() -> np.ndarray:
    """Eileen Collins as a box sees her: the enrolment photo at half the resolution."""
    return wh.box_embedding(wh.image("astronaut.png")[::2, ::2].copy())


@functools.cache
def hopper() -> np.ndarray:
    return wh.box_embedding(wh.image("grace_hopper.jpg"))


@functools.cache
def shot_jpeg() -> bytes:
    """A face shot the way a box writes one: a 112x112 face crop, JPEG quality 92."""
    face = cv2.resize(wh.image("astronaut.png")[40:240, 130:330], (112, 112))
    ok, data = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return data.tobytes()


async def enrol_collins(fleet: Fleet) -> None:
    s, admin = wh.stub(fleet.api), bearer_metadata(fleet.admin)
    await s.CreateWatchlist(pb.CreateWatchlistRequest(name="wanted"), metadata=admin)
    photo = pb.Photo(filename="astronaut.png", data=wh.photo("astronaut.png"))
    request = pb.AddSubjectRequest(
        watchlist="wanted", name="Eileen Collins", reason="test", photos=[photo]
    )
    await s.AddSubject(request, metadata=admin, timeout=120)


async def alerts(fleet: Fleet, n: int) -> list[pb.WatchlistAlert]:
    """The alerts once there are `n` of them, oldest first."""
    s = wh.stub(fleet.api)
    got: list[pb.WatchlistAlert] = []
    for _ in range(300):
        reply = await s.ListAlerts(pb.ListAlertsRequest(), metadata=bearer_metadata(fleet.admin))
        got = list(reversed(reply.alerts))
        if len(got) >= n:
            break
        await asyncio.sleep(0.05)
    assert len(got) == n, got
    return got


async def until_ack(stream: AgentStream) -> list[agent_pb2.FleetMessage]:
    """Every message up to and including the next Ack (nothing skipped)."""
    out: list[agent_pb2.FleetMessage] = []
    while True:
        msg = await asyncio.wait_for(stream.call.read(), 20)
        assert isinstance(msg, agent_pb2.FleetMessage), "stream ended"
        out.append(msg)
        if msg.WhichOneof("body") == "ack":
            return out


async def collect(stream: AgentStream, *kinds: str) -> list[agent_pb2.FleetMessage]:
    """Every message until one of each of `kinds` came, in whatever order (the request for
    a face can come before or after the Ack of its batch)."""
    got: list[agent_pb2.FleetMessage] = []
    while not set(kinds) <= {m.WhichOneof("body") for m in got}:
        msg = await asyncio.wait_for(stream.call.read(), 20)
        assert isinstance(msg, agent_pb2.FleetMessage), "stream ended"
        got.append(msg)
    return got


def answer(
    req: pb.EvidenceRequest, jpeg: bytes = b"", reason: str = "", **fields: object
) -> agent_pb2.AgentMessage:
    """The box's answer to `req`: the JPEG (status OK) or the reason (UNAVAILABLE)."""
    values: dict[str, object] = {
        "request_id": req.request_id,
        "camera_id": req.camera_id,
        "track_id": req.track_id,
        "face_event_id": req.face_event_id,
        "status": pb.Evidence.STATUS_OK if jpeg else pb.Evidence.STATUS_UNAVAILABLE,
        "jpeg": jpeg,
        "reason": reason,
    }
    values.update(fields)
    return agent_pb2.AgentMessage(evidence=pb.Evidence(**values))  # type: ignore[arg-type]


async def evidence_of(fleet: Fleet, alert_id: str, token: str = "") -> pb.AlertEvidence:
    request = pb.GetAlertEvidenceRequest(alert_id=alert_id)
    return await wh.stub(fleet.api).GetAlertEvidence(
        request, metadata=bearer_metadata(token or fleet.admin)
    )


async def settled(fleet: Fleet, alert_id: str) -> pb.AlertEvidence:
    """The alert's evidence once the box's answer is recorded."""
    for _ in range(300):
        got = await evidence_of(fleet, alert_id)
        if got.state != pb.EVIDENCE_STATE_PENDING:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"evidence of {alert_id} still pending")


def sample(fleet: Fleet, name: str, **labels: str) -> float:
    value = fleet.server.app.metrics.registry.get_sample_value(name, labels or None)
    return value or 0.0


def evidence_rows(fleet: Fleet) -> list[tuple[object, ...]]:
    with sqlite3.connect(fleet.data_dir / "fleet.db") as db:
        return db.execute(
            "SELECT alert_id, track_id, state, size_bytes FROM alert_evidence ORDER BY track_id"
        ).fetchall()


async def test_only_an_alert_fetches_the_image_which_is_kept_shown_and_audited(
    fleet: Fleet, tmp_path: Path
) -> None:
    await enrol_collins(fleet)
    vic = await wh.api_token(fleet.api, fleet.admin, "vic", admin_pb2.ROLE_VIEWER)
    changes = event_stub(fleet.api).Subscribe(
        stream_pb2.SubscribeRequest(filter=stream_pb2.EventFilter(types=["watchlist_alert"])),
        metadata=bearer_metadata(vic),
    )
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    her, other = wh.face_event("cam-1", 1, collins()), wh.face_event("cam-1", 2, hopper())
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        stream.send_batch([her, other])
        first = await collect(stream, "ack", "evidence_request")
        (ack,) = [m.ack for m in first if m.HasField("ack")]
        (req,) = [m.evidence_request for m in first if m.HasField("evidence_request")]
        assert ack.accepted == 2
        assert (req.camera_id, req.track_id, req.face_event_id) == ("cam-1", 1, her.event_id)
        assert req.max_bytes == MAX_EVIDENCE_BYTES and req.request_id and req.alert_id
        (alert,) = await alerts(fleet, 1)
        assert alert.alert_id == req.alert_id and alert.track_id == 1
        assert alert.evidence == pb.EVIDENCE_STATE_PENDING
        code, out, _ = await ctl(fleet, vic, "alert", "show", alert.alert_id)
        assert code == 0 and "pending" in out
        captured = Timestamp()
        captured.GetCurrentTime()
        stream.send(answer(req, shot_jpeg(), captured_at=captured))
        got = await settled(fleet, alert.alert_id)
        # Nothing else was asked for: the next Ack comes with no other request before it.
        stream.send_batch([wh.face_event("cam-1", 3, hopper())])
        assert [m.WhichOneof("body") for m in await until_ack(stream)] == ["ack"]
        stream.close()

    assert got.state == pb.EVIDENCE_STATE_PRESENT and got.jpeg == shot_jpeg()
    assert (got.width, got.height) == (112, 112) and len(got.sha256) == 64
    assert (got.device_id, got.camera_id, got.track_id) == (ident.device_id, "cam-1", 1)
    assert got.face_event_id == her.event_id and got.captured_at == captured
    assert got.received_at.seconds and got.requested_at.seconds
    # One image for the one alert; the unmatched tracks 2 and 3 never had one asked for.
    assert evidence_rows(fleet) == [(alert.alert_id, 1, "present", len(shot_jpeg()))]
    jpeg, meta = await fleet.server.app.store.get_alert_evidence(alert.alert_id) or (b"", None)
    assert jpeg == shot_jpeg() and meta is not None and meta.sha256 == got.sha256

    image = tmp_path / "face.jpg"
    code, out, err = await ctl(fleet, vic, "alert", "show", alert.alert_id, "--image", str(image))
    assert code == 0, err
    assert "present" in out and str(image) in err
    assert image.read_bytes() == shot_jpeg() and stat.S_IMODE(image.stat().st_mode) == 0o600
    decoded = cv2.imdecode(np.frombuffer(image.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape == (112, 112, 3)

    # The stream announces the image (never carries it): raised, then evidence.
    seen = [env.event.watchlist_alert for env in await _take(changes, 2)]
    assert [(a.change, a.evidence) for a in seen] == [
        (pb.WatchlistAlert.CHANGE_RAISED, pb.EVIDENCE_STATE_PENDING),
        (pb.WatchlistAlert.CHANGE_EVIDENCE, pb.EVIDENCE_STATE_PRESENT),
    ]
    assert all(shot_jpeg() not in a.SerializeToString() for a in seen)

    code, out, _ = await ctl(fleet, fleet.admin, "--json", "audit", "list", "--action", "evidence.")
    records = [(r["actor"], r["action"], r["target"]) for r in json.loads(out)["records"]]
    assert {r[1] for r in records if r[0] == "bootstrap-admin"} == {"evidence.view"}  # polling
    assert [r for r in records if r[0] != "bootstrap-admin"] == [
        (ident.device_id, "evidence.receive", alert.alert_id),
        ("vic", "evidence.view", alert.alert_id),
    ]
    assert sample(fleet, "oko_fleet_evidence_answers_total", outcome="present") == 1
    assert sample(fleet, "oko_fleet_evidence_views_total", state="present") == 2  # poll + vic


async def test_a_request_waits_for_an_offline_box_even_across_a_fleet_restart(
    tmp_path: Path,
) -> None:
    async with running_fleet(tmp_path / "fleet") as fleet:
        await enrol_collins(fleet)
        ident = await new_device(fleet.server, fleet.admin, fleet.ca)
        face = wh.face_event("cam-1", 7, collins())
        async with ident.channel(fleet.server.agent_port) as channel:
            stream = AgentStream(channel)
            stream.send_batch([face])
            assert (await stream.next("ack")).ack.accepted == 1
            stream.close()  # the box goes away before the alert is raised
        (alert,) = await alerts(fleet, 1)
        assert alert.evidence == pb.EVIDENCE_STATE_PENDING
        admin = fleet.admin
    async with running_fleet(tmp_path / "fleet") as fleet:
        fleet.admin = admin
        async with ident.channel(fleet.server.agent_port) as channel:
            stream = AgentStream(channel)
            stream.send_batch([])
            messages = await until_ack(stream)  # the request comes with the Welcome
            (req,) = [m.evidence_request for m in messages if m.HasField("evidence_request")]
            assert (req.alert_id, req.face_event_id, req.track_id) == (
                alert.alert_id,
                face.event_id,
                7,
            )
            reason = "no shot of face event on this box (deleted after the 24 h retention)"
            stream.send(answer(req, reason=reason))
            got = await settled(fleet, alert.alert_id)
            stream.close()
        assert got.state == pb.EVIDENCE_STATE_UNAVAILABLE and got.reason == reason
        assert not got.jpeg
        # Answered: a reconnecting box is not asked again.
        async with ident.channel(fleet.server.agent_port) as channel:
            stream = AgentStream(channel)
            stream.send_batch([])
            assert [m.WhichOneof("body") for m in await until_ack(stream)] == ["welcome", "ack"]
            stream.close()
        code, out, _ = await ctl(fleet, admin, "alert", "show", alert.alert_id)
        assert code == 0 and f"unavailable: {reason}" in out
        image = tmp_path / "face.jpg"
        code, _, err = await ctl(
            fleet, admin, "alert", "show", alert.alert_id, "--image", str(image)
        )
        assert code == 1 and "no evidence image (unavailable: no shot" in err
        assert not image.exists()


def _truncated() -> bytes:
    return shot_jpeg()[: len(shot_jpeg()) // 2]


def _too_big() -> bytes:
    noise = np.random.default_rng(1).integers(0, 256, (480, 640, 3), np.uint8)
    ok, data = cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok and len(data) > MAX_EVIDENCE_BYTES
    return data.tobytes()


def _png() -> bytes:
    image = cv2.imdecode(np.frombuffer(shot_jpeg(), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def _huge_header() -> bytes:
    """A real JPEG whose frame header claims 60000x60000 pixels."""
    data = bytearray(shot_jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (60000).to_bytes(2, "big") * 2
    return bytes(data)


# (what the box sends instead of a good answer, the reason recorded for it)
BAD_ANSWERS: list[tuple[dict[str, object], str]] = [
    ({"track_id": 99, "jpeg": b"x"}, "evidence.track_id '99' is not the requested {track}"),
    ({"camera_id": "cam-9"}, "evidence.camera_id 'cam-9' is not the requested 'cam-1'"),
    ({"jpeg": b"", "status": pb.Evidence.STATUS_OK}, "status OK without an image"),
    ({"status": pb.Evidence.STATUS_UNSPECIFIED}, "evidence.status unspecified"),
    ({"jpeg": "PNG"}, "not an acceptable JPEG: not a JPEG"),
    ({"jpeg": "TRUNCATED"}, "not an acceptable JPEG: file ends inside a scan"),
    ({"jpeg": "HUGE"}, "not an acceptable JPEG: image is 60000x60000"),
    ({"jpeg": "TOO_BIG"}, f"evidence.jpeg is {{size}} bytes, limit {MAX_EVIDENCE_BYTES}"),
    ({"status": pb.Evidence.STATUS_UNAVAILABLE}, "evidence.jpeg must be empty when the status"),
    (
        {"status": pb.Evidence.STATUS_UNAVAILABLE, "jpeg": b"", "reason": "gone\x1b[2J"},
        "evidence.reason 'gone\\x1b[2J' contains control characters",
    ),
]
JPEGS = {"PNG": _png, "TRUNCATED": _truncated, "HUGE": _huge_header, "TOO_BIG": _too_big}


async def _box_with_alerts(fleet: Fleet, tracks: int) -> tuple[Identity, list[events_pb2.Event]]:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    faces = [wh.face_event("cam-1", t, collins()) for t in range(1, tracks + 1)]
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        stream.send_batch(faces)
        assert (await stream.next("ack")).ack.accepted == tracks
        stream.close()
    await alerts(fleet, tracks)
    return ident, faces


async def test_answers_that_do_not_fit_their_request_are_refused_and_nothing_is_lost(
    fleet: Fleet,
) -> None:
    await enrol_collins(fleet)
    tracks = len(BAD_ANSWERS) + 1
    ident, _ = await _box_with_alerts(fleet, tracks)  # all raised while the box is away
    stranger = await new_device(fleet.server, fleet.admin, fleet.ca, name="box-2")
    planned: dict[int, tuple[dict[str, object], str]] = {}
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        stream.send_batch([])
        sent = [
            m.evidence_request for m in await until_ack(stream) if m.HasField("evidence_request")
        ]
        assert len(sent) == WINDOW  # never more than WINDOW outstanding on one stream
        for fields, reason in BAD_ANSWERS:  # each answer frees a place for the next request
            req = sent.pop(0) if sent else (await stream.next("evidence_request")).evidence_request
            planned[req.track_id] = (fields, reason)
            jpeg = fields.get("jpeg", shot_jpeg())
            jpeg = JPEGS[jpeg]() if isinstance(jpeg, str) else jpeg
            stream.send(answer(req, **{**fields, "jpeg": jpeg}))  # type: ignore[arg-type]
        last = (await stream.next("evidence_request")).evidence_request
        assert last.track_id not in planned and not sent
        # A request id the box was never sent, and another box answering this one: ignored.
        stream.send(answer(pb.EvidenceRequest(request_id="nope", camera_id="cam-1"), b"x"))
        async with stranger.channel(fleet.server.agent_port) as other_channel:
            other = AgentStream(other_channel)
            other.send(answer(last, shot_jpeg()))
            other.send_batch([])
            await until_ack(other)
            other.close()
        # The box's stream still serves events, and its own good answer still counts, once.
        stream.send(answer(last, shot_jpeg()))
        stream.send(answer(last, shot_jpeg()))
        stream.send_batch([wh.face_event("cam-2", 1, hopper())])
        assert (await stream.next("ack")).ack.accepted == 1
        stream.close()

    by_track = {a.track_id: a for a in await alerts(fleet, tracks)}
    assert sorted(planned) == sorted(t for t in by_track if t != last.track_id)
    for track, (fields, reason) in planned.items():
        got = await settled(fleet, by_track[track].alert_id)
        size = len(_too_big()) if fields.get("jpeg") == "TOO_BIG" else 0
        assert got.state == pb.EVIDENCE_STATE_UNAVAILABLE and not got.jpeg, (track, got)
        assert got.reason.startswith("invalid answer from the box: "), got.reason
        assert reason.format(size=size, track=track) in got.reason, (reason, got.reason)
    good = await settled(fleet, by_track[last.track_id].alert_id)
    assert good.state == pb.EVIDENCE_STATE_PRESENT and good.jpeg == shot_jpeg()
    assert sample(fleet, "oko_fleet_evidence_answers_total", outcome="invalid") == len(BAD_ANSWERS)
    assert sample(fleet, "oko_fleet_evidence_answers_total", outcome="unknown") == 2
    assert sample(fleet, "oko_fleet_evidence_answers_total", outcome="duplicate") == 1
    assert sample(fleet, "oko_fleet_evidence_answers_total", outcome="present") == 1


async def test_viewers_see_evidence_unknown_alerts_are_not_found(fleet: Fleet) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await evidence_of(fleet, "no-such-alert")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await evidence_of(fleet, "no-such-alert", token="okoa.nope.nope")
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED

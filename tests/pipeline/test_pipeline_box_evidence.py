"""The box's half of evidence on demand: its real uplink answers the fleet's request from
its shot store, and a shot past the box's retention is deleted and reported unavailable.

Real parts: Grace Hopper's face through the box's real face chain (CenterFace + FaceRes),
the JPEG written by the real `FaceShotStore`, the real spool and uplink client talking
mutual TLS to a real fleet (in a thread) that enrolled her from the same photo. The shot
store's clock is injected, so "a day later" needs no waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.config.agent import AgentConfig
from agent.events.convert import EventMinter
from agent.events.types import AnalyticsEvent
from agent.faces.shots import FaceShotStore, ShotUnavailableError
from agent.pipeline.evidence import EvidenceResponder
from agent.pipeline.parts import BoxParts
from agent.uplink.client import no_shots
from proto import transport
from proto.oko.v1 import watchlists_pb2 as pb
from proto.oko.v1 import watchlists_pb2_grpc
from tests.analytics.faces_support import DATA, hopper_face_event
from tests.support.fleet import FleetHandle
from tests.support.net import wait_until
from tests.uplink.conftest import enrolled, fleet  # noqa: F401  (pytest fixtures)
from tests.uplink.harness import AgentThread

HOUR = 3600.0


class Clock:
    """Wall-clock seconds, moved by the test."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture(scope="module")
def face() -> AnalyticsEvent:
    return hopper_face_event()


def _watchlists(handle: FleetHandle) -> tuple[Any, Any]:
    stub = watchlists_pb2_grpc.WatchlistServiceStub(handle.channel())
    return stub, transport.bearer_metadata(handle.admin_token)


def _enrol_hopper(handle: FleetHandle) -> None:
    stub, md = _watchlists(handle)
    stub.CreateWatchlist(pb.CreateWatchlistRequest(name="wanted"), metadata=md, timeout=10)
    photo = pb.Photo(filename="grace_hopper.jpg", data=(DATA / "grace_hopper.jpg").read_bytes())
    stub.AddSubject(
        pb.AddSubjectRequest(watchlist="wanted", name="Grace Hopper", reason="t", photos=[photo]),
        metadata=md,
        timeout=120,
    )


def _evidence(handle: FleetHandle, track_id: int) -> pb.AlertEvidence:
    """The evidence of the alert on `track_id` once the box answered."""
    stub, md = _watchlists(handle)

    def answered() -> pb.AlertEvidence | None:
        alerts = stub.ListAlerts(pb.ListAlertsRequest(), metadata=md, timeout=10).alerts
        for alert in alerts:
            if alert.track_id == track_id and alert.evidence != pb.EVIDENCE_STATE_PENDING:
                request = pb.GetAlertEvidenceRequest(alert_id=alert.alert_id)
                return stub.GetAlertEvidence(request, metadata=md, timeout=10)
        return None

    return wait_until(answered, 120, f"the box's answer for track {track_id}")


def _spool(parts: BoxParts, shots: FaceShotStore, face: AnalyticsEvent, track: int) -> Path:
    (wire,) = EventMinter("cam-1").mint_all([face])
    wire.track_id = track
    (path,) = shots.save([face], [wire])
    parts.spool.append([wire])
    parts.uplink.notify()
    return path


def test_the_box_sends_the_alerts_shot_and_refuses_one_past_its_retention(
    fleet: FleetHandle,  # noqa: F811
    enrolled: Callable[..., AgentConfig],  # noqa: F811
    face: AnalyticsEvent,
    tmp_path: Path,
) -> None:
    _enrol_hopper(fleet)
    clock = Clock()
    shots = FaceShotStore(tmp_path / "shots", retention_s=24 * HOUR, clock=clock)
    responder: list[EvidenceResponder] = []  # needs the parts' metrics: made after them

    def answer(request: pb.EvidenceRequest) -> pb.Evidence:
        return responder[0].answer(request)

    parts = BoxParts.open(enrolled(), evidence_handler=answer)
    responder.append(
        EvidenceResponder(lambda cam: shots if cam == "cam-1" else None, parts.metrics)
    )
    thread = AgentThread(parts.uplink).start()
    try:
        kept = _spool(parts, shots, face, track=3)
        sent = _evidence(fleet, 3)
        assert sent.state == pb.EVIDENCE_STATE_PRESENT
        assert sent.jpeg == kept.read_bytes() and (sent.width, sent.height) == (112, 112)
        assert abs(sent.captured_at.seconds - kept.stat().st_mtime) < 2

        # A day and a bit later the camera has stopped (no `save` expired the shot): the
        # request for a new alert finds it past retention, deletes it, says so.
        late = _spool(parts, shots, face, track=4)
        clock.offset = 25 * HOUR
        gone = _evidence(fleet, 4)
        assert gone.state == pb.EVIDENCE_STATE_UNAVAILABLE and not gone.jpeg
        assert "older than the 24 h retention" in gone.reason and gone.face_event_id in gone.reason
        assert not late.exists()
        assert (
            parts.metrics.registry.get_sample_value(
                "oko_agent_evidence_answers_total", {"outcome": "sent"}
            )
            == 1
        )
    finally:
        thread.stop()
        parts.close()


def test_the_responder_refuses_what_it_cannot_or_must_not_send(
    face: AnalyticsEvent, tmp_path: Path
) -> None:
    shots = FaceShotStore(tmp_path / "shots", retention_s=HOUR)
    (wire,) = EventMinter("cam-1").mint_all([face])
    (path,) = shots.save([face], [wire])
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"\xff\xd8 not for the fleet")
    responder = EvidenceResponder(lambda cam: shots if cam == "cam-1" else None)

    def ask(event_id: str, camera: str = "cam-1", max_bytes: int = 0) -> pb.Evidence:
        request = pb.EvidenceRequest(
            request_id="r1", camera_id=camera, track_id=3, face_event_id=event_id,
            max_bytes=max_bytes,
        )  # fmt: skip
        return responder.answer(request)

    ok = ask(wire.event_id)
    assert ok.status == pb.Evidence.STATUS_OK and ok.jpeg == path.read_bytes()
    assert (ok.request_id, ok.camera_id, ok.track_id, ok.face_event_id) == (
        "r1",
        "cam-1",
        3,
        wire.event_id,
    )
    refusals = {
        "other camera": ask(wire.event_id, camera="cam-9"),
        "too big": ask(wire.event_id, max_bytes=100),
        "unknown": ask("0193a6c0-0000-7000-8000-000000000000"),
        "escape": ask("../secret"),
        "absolute": ask(str(outside.with_suffix(""))),
        "empty": ask(""),
    }
    for what, reply in refusals.items():
        assert reply.status == pb.Evidence.STATUS_UNAVAILABLE and not reply.jpeg, what
    assert "keeps no face shots" in refusals["other camera"].reason
    assert "the fleet accepts at most 100" in refusals["too big"].reason
    assert "no shot of face event" in refusals["unknown"].reason
    assert "1 h retention" in refusals["unknown"].reason
    assert "not an event id" in refusals["escape"].reason
    assert outside.exists() and path.exists()
    with pytest.raises(ShotUnavailableError):
        shots.load("a\x00b")


def test_a_box_without_shot_stores_says_so() -> None:
    reply = no_shots(pb.EvidenceRequest(request_id="r", camera_id="c", track_id=1))
    assert reply.status == pb.Evidence.STATUS_UNAVAILABLE and "keeps no face shots" in reply.reason
    assert (reply.request_id, reply.camera_id, reply.track_id) == ("r", "c", 1)
    assert not reply.jpeg

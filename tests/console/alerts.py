"""Raising real watchlist alerts on the fleet under test: a real face on a test box.

The subject is enrolled from a real photo through WatchlistService (the fleet's own face
models); the face event is what a box's face chain computes for the same person at
another resolution, sent over a real mTLS agent stream. The fleet's matcher raises the
alert, exactly as for a camera.
"""

from __future__ import annotations

import asyncio
import itertools

import cv2
from google.protobuf.timestamp_pb2 import Timestamp

from proto.oko.v1 import agent_pb2, watchlists_pb2_grpc
from proto.oko.v1 import watchlists_pb2 as pb
from proto.transport import bearer_metadata
from tests.console.conftest import SITE, Stack, in_thread
from tests.fleet import watchlist_helpers as wh
from tests.fleet.helpers import AgentStream, api_channel, enroll, enrollment_token
from tests.support.net import wait_until

_tracks = itertools.count(1)


def _watchlists(stack: Stack) -> watchlists_pb2_grpc.WatchlistServiceStub:
    return watchlists_pb2_grpc.WatchlistServiceStub(stack.handle.channel())


def _subject(stack: Stack) -> None:
    stub, meta = _watchlists(stack), bearer_metadata(stack.handle.admin_token)
    if any(
        w.name == "wanted"
        for w in stub.ListWatchlists(pb.ListWatchlistsRequest(), metadata=meta).watchlists
    ):
        return
    stub.CreateWatchlist(pb.CreateWatchlistRequest(name="wanted"), metadata=meta, timeout=30)
    photo = pb.Photo(filename="astronaut.png", data=wh.photo("astronaut.png"))
    stub.AddSubject(
        pb.AddSubjectRequest(
            watchlist="wanted", name="Eileen Collins", reason="test", photos=[photo]
        ),
        metadata=meta,
        timeout=120,
    )


def shot() -> bytes:
    """The best shot a box keeps of a face: a 112x112 baseline JPEG of the real photo."""
    img = wh.image("astronaut.png")[20:220, 140:340]
    ok, buf = cv2.imencode(".jpg", cv2.resize(img, (112, 112)), [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return buf.tobytes()


def raise_alert(stack: Stack, answer: bool = False) -> str:
    """A new candidate alert (its own test box and track); its id.

    With `answer` the test box answers the fleet's evidence request with its best shot.
    """
    _subject(stack)
    track = next(_tracks)
    vector = wh.box_embedding(wh.image("astronaut.png")[::2, ::2].copy())
    ca, admin = stack.handle.ca_pem, stack.handle.admin_token

    async def send() -> None:
        async with api_channel(stack.fleet.api_port, ca) as channel:
            token = await enrollment_token(channel, admin, site=SITE)
            ident = await enroll(channel, token, name=f"door-box-{track}")
        async with ident.channel(stack.fleet.agent_port) as channel:
            stream = AgentStream(channel)
            stream.send_batch([wh.face_event("door", track, vector)])
            ack = (await stream.next("ack")).ack
            assert ack.accepted == 1, ack
            if answer:
                request = (await stream.next("evidence_request", timeout=60)).evidence_request
                stamp = Timestamp()
                stamp.GetCurrentTime()
                evidence = pb.Evidence(
                    request_id=request.request_id,
                    camera_id=request.camera_id,
                    track_id=request.track_id,
                    face_event_id=request.face_event_id,
                    status=pb.Evidence.STATUS_OK,
                    jpeg=shot(),
                    captured_at=stamp,
                )
                stream.send(agent_pb2.AgentMessage(evidence=evidence))
                await asyncio.sleep(1)  # let the fleet take it before the stream ends
            stream.close()

    in_thread(send)
    meta = bearer_metadata(admin)

    def found() -> str:
        alerts = _watchlists(stack).ListAlerts(pb.ListAlertsRequest(), metadata=meta).alerts
        return next((a.alert_id for a in alerts if a.track_id == track), "")

    return wait_until(found, 60, "the fleet to raise the alert")

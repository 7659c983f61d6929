"""Raising real watchlist alerts on the fleet under test: a real face on a test box.

The subject is enrolled from a real photo through WatchlistService (the fleet's own face
models); the face event is what a box's face chain computes for the same person at
another resolution, sent over a real mTLS agent stream. The fleet's matcher raises the
alert, exactly as for a camera.
"""

from __future__ import annotations

import itertools

from proto.oko.v1 import watchlists_pb2 as pb
from proto.oko.v1 import watchlists_pb2_grpc
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


def raise_alert(stack: Stack) -> str:
    """A new candidate alert (its own test box and track); its id."""
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
            stream.close()

    in_thread(send)
    meta = bearer_metadata(admin)

    def found() -> str:
        alerts = _watchlists(stack).ListAlerts(pb.ListAlertsRequest(), metadata=meta).alerts
        return next((a.alert_id for a in alerts if a.track_id == track), "")

    return wait_until(found, 60, "the fleet to raise the alert")

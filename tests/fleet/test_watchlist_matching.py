"""1:N matching at ingest: real embeddings from real photos, sent by a real (test) box
over mutual TLS, matched after the durable commit, alerts streamed once per track."""

from __future__ import annotations

import asyncio

import cv2
import numpy as np
import pytest

from fleet.watchlists.gallery import Gallery
from fleet.watchlists.records import EmbedderKey, GalleryRow, Template, WatchlistRecord
from proto.oko.v1 import stream_pb2
from proto.oko.v1 import watchlists_pb2 as pb
from proto.transport import bearer_metadata
from tests.fleet import watchlist_helpers as wh
from tests.fleet.conftest import Fleet
from tests.fleet.helpers import AgentStream, event_stub, new_device

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


async def _enrol(fleet: Fleet, watchlist: str, name: str, photo: str) -> str:
    request = pb.AddSubjectRequest(
        watchlist=watchlist,
        name=name,
        reason="test",
        photos=[pb.Photo(filename=photo, data=wh.photo(photo))],
    )
    reply = await wh.stub(fleet.api).AddSubject(
        request, metadata=bearer_metadata(fleet.admin), timeout=120
    )
    return reply.subject_id


def _scaled(name: str, scale: float) -> np.ndarray:
    img = wh.image(name)
    return cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


async def _matched(fleet: Fleet) -> None:
    """Wait until the matcher has worked through every face offered so far."""
    matcher = fleet.server.app.ingestor.on_commit[0].__self__  # type: ignore[attr-defined]
    await asyncio.wait_for(matcher.idle.wait(), 30)


async def test_faces_raise_one_alert_per_track_and_subject(fleet: Fleet) -> None:
    admin = bearer_metadata(fleet.admin)
    s = wh.stub(fleet.api)
    await s.CreateWatchlist(pb.CreateWatchlistRequest(name="wanted", site="site-a"), metadata=admin)
    elsewhere = pb.CreateWatchlistRequest(name="elsewhere", site="site-b")
    await s.CreateWatchlist(elsewhere, metadata=admin)
    collins = await _enrol(fleet, "wanted", "Eileen Collins", "astronaut.png")
    hopper = await _enrol(fleet, "wanted", "Grace Hopper", "grace_hopper.jpg")
    await _enrol(fleet, "elsewhere", "Collins at B", "astronaut.png")  # other site: never

    alerts = event_stub(fleet.api).Subscribe(
        stream_pb2.SubscribeRequest(filter=stream_pb2.EventFilter(types=["watchlist_alert"])),
        metadata=admin,
    )
    collins_small = wh.box_embedding(_scaled("astronaut.png", 0.5))
    hopper_small = wh.box_embedding(_scaled("grace_hopper.jpg", 0.4))
    messi = wh.box_embedding(wh.image("messi5.jpg"))
    name, _ = wh.embedder_version()
    events = [
        wh.face_event("cam-1", 1, collins_small),
        wh.face_event("cam-1", 1, collins_small),  # same track again: no second alert
        wh.face_event("cam-1", 2, messi),  # not enrolled anywhere
        wh.face_event("cam-1", 3, hopper_small, int8=True),
        wh.face_event("cam-1", 4, collins_small, embedder=(name, "0.0-unknown")),
    ]
    ident = await new_device(fleet.server, fleet.admin, fleet.ca, site="site-a")
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        stream.send_batch(events)
        ack = (await stream.next("ack")).ack
        assert ack.accepted == 5 and not ack.rejected
        stream.close()

    got = []
    async for env in alerts:
        got.append(env.event)
        if len(got) == 2:
            break
    alerts.cancel()
    by_subject = {e.watchlist_alert.subject_id: e for e in got}
    assert set(by_subject) == {collins, hopper}
    for e in got:
        a = e.watchlist_alert
        assert a.state == pb.WatchlistAlert.STATE_CANDIDATE
        assert a.change == pb.WatchlistAlert.CHANGE_RAISED and a.confirmations_needed == 2
        assert (e.device_id, e.camera_id, a.site) == (ident.device_id, "cam-1", "site-a")
        assert a.score >= 0.55
    assert by_subject[collins].track_id == 1 and by_subject[hopper].track_id == 3
    assert by_subject[collins].watchlist_alert.face_event_id == events[0].event_id

    await _matched(fleet)
    listed = await s.ListAlerts(pb.ListAlertsRequest(), metadata=admin)
    assert sorted(a.subject_id for a in listed.alerts) == sorted([collins, hopper])
    metrics = fleet.server.app.metrics.registry
    assert metrics.get_sample_value("oko_fleet_faces_no_gallery_total") == 1
    assert metrics.get_sample_value("oko_fleet_faces_searched_total") == 4
    assert metrics.get_sample_value("oko_fleet_watchlist_alerts_total") == 2


async def test_a_box_cannot_mint_alerts_and_removed_subjects_stop_matching(fleet: Fleet) -> None:
    admin = bearer_metadata(fleet.admin)
    s = wh.stub(fleet.api)
    await s.CreateWatchlist(pb.CreateWatchlistRequest(name="w"), metadata=admin)
    collins = await _enrol(fleet, "w", "Eileen Collins", "astronaut.png")
    await s.RemoveSubject(pb.RemoveSubjectRequest(subject_id=collins), metadata=admin)
    forged = wh.face_event("cam-1", 9, wh.box_embedding(wh.image("astronaut.png")))
    forged.watchlist_alert.subject_id = "x"  # replaces the face body (oneof)
    real = wh.face_event("cam-1", 10, wh.box_embedding(wh.image("astronaut.png")))
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        stream.send_batch([forged, real])
        ack = (await stream.next("ack")).ack
        stream.close()
    assert ack.accepted == 1
    (rejected,) = ack.rejected
    assert "minted by the fleet" in rejected.reason
    await _matched(fleet)
    assert list((await s.ListAlerts(pb.ListAlertsRequest(), metadata=admin)).alerts) == []


def _row(sid: str, vector: np.ndarray, w: WatchlistRecord, expires: int = 0) -> GalleryRow:
    key = EmbedderKey("e", "1")
    data = vector.astype("<f4").tobytes()
    return GalleryRow(Template(sid, key, 0, vector.shape[0], data), w, sid.upper(), expires)


def test_gallery_search_honours_site_expiry_threshold_and_top_k() -> None:
    rng = np.random.default_rng(7)
    base = rng.normal(size=(6, 64)).astype(np.float32)
    probe = base[0] / np.linalg.norm(base[0])
    near = [probe + 0.3 * rng.normal(size=64).astype(np.float32) / 8 for _ in range(4)]
    loose = WatchlistRecord("loose", "", 0.5, 2, "", 0, "a")
    strict = WatchlistRecord("strict", "", 0.999, 5, "", 0, "a")
    other_site = WatchlistRecord("b", "site-b", 0.1, 5, "", 0, "a")
    rows = [
        _row("s1", near[0], loose),
        _row("s1", near[1], loose),  # a second photo of s1: the subject counts once
        _row("s2", near[2], loose),
        _row("s3", near[3], loose),  # beyond top_k=2 unless it scores higher
        _row("s4", near[0], strict),
        _row("s5", near[0], other_site),
        _row("s6", near[1], loose, expires=1_000),
        _row("s7", base[3], loose),  # someone else
    ]
    gallery = Gallery.of_rows(EmbedderKey("e", "1"), rows)
    got = gallery.search(probe, "site-a", now_us=2_000)
    assert [m.watchlist.name for m in got] == ["loose", "loose"]
    assert len({m.subject_id for m in got}) == 2 and "s6" not in {m.subject_id for m in got}
    assert got[0].score >= got[1].score >= 0.5
    assert {m.subject_id for m in gallery.search(probe, "site-b", 2_000)} >= {"s5"}
    expiring = Gallery.of_rows(EmbedderKey("e", "1"), rows[6:7])
    assert [m.subject_id for m in expiring.search(probe, "", now_us=500)] == ["s6"]
    assert expiring.search(probe, "", now_us=1_000) == []


def test_searching_many_faces_at_once_finds_what_one_by_one_finds() -> None:
    rng = np.random.default_rng(11)
    people = rng.normal(size=(20, 128)).astype(np.float32)
    wl = WatchlistRecord("w", "site-a", 0.6, 2, "", 0, "a")
    rows = [_row(f"s{i}", people[i], wl) for i in range(20)]
    gallery = Gallery.of_rows(EmbedderKey("e", "1"), rows)
    probes = people[[3, 7, 3, 15]] + 0.2 * rng.normal(size=(4, 128)).astype(np.float32)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    sites = ["site-a", "site-a", "site-b", "site-a"]
    together = gallery.search_many(probes, sites, 0)
    alone = [gallery.search(p, s, 0) for p, s in zip(probes, sites, strict=True)]
    ids = [[m.subject_id for m in ms] for ms in together]
    assert ids == [[m.subject_id for m in ms] for ms in alone] == [["s3"], ["s7"], [], ["s15"]]
    for many, one in zip(together, alone, strict=True):  # BLAS may round differently
        assert [m.score for m in many] == pytest.approx([m.score for m in one], abs=1e-5)


def test_a_gallery_never_matches_below_its_embedders_own_same_person_cosine() -> None:
    """A watchlist tuned for FaceRes (0.75) must not alert on every face under dlib."""
    rng = np.random.default_rng(3)
    probe = rng.normal(size=128).astype(np.float32)
    probe /= np.linalg.norm(probe)
    side = rng.normal(size=128).astype(np.float32)
    side -= side.dot(probe) * probe
    side /= np.linalg.norm(side)

    def at(cosine: float) -> np.ndarray:  # a template at exactly this cosine to the probe
        return cosine * probe + np.sqrt(1 - cosine**2) * side

    tuned = WatchlistRecord("tuned", "", 0.75, 5, "", 0, "a")
    rows = [_row("stranger", at(0.9), tuned), _row("same", at(0.98), tuned)]
    dlib = Gallery.of_rows(EmbedderKey("dlib-resnet", "1.0.0"), rows)
    assert [m.subject_id for m in dlib.search(probe, "", 0)] == ["same"]  # floor 0.965
    faceres = Gallery.of_rows(EmbedderKey("faceres", "1.0.0"), rows)  # floor 0.65 < 0.75
    assert {m.subject_id for m in faceres.search(probe, "", 0)} == {"stranger", "same"}
    unknown = Gallery.of_rows(EmbedderKey("pushed-embedder", "9"), rows)  # no floor known
    assert len(unknown.search(probe, "", 0)) == 2

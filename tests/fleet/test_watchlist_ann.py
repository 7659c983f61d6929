"""The ANN path of gallery search: same top-1 as exact search on real faces among random
distractors; removal and expiry take effect at once, whatever the index still holds."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from fleet.config import WatchlistSettings
from fleet.watchlists.ann import AnnError
from fleet.watchlists.galleries import AnnPolicy, GalleryBuilder, build_slot
from fleet.watchlists.gallery import AnnView, Gallery, unit_rows
from fleet.watchlists.records import EmbedderKey, GalleryRow, Template, WatchlistRecord
from fleet.watchlists.runtime import ANN_DIR
from proto.oko.v1 import watchlists_pb2 as pb
from proto.transport import bearer_metadata
from tests.fleet import watchlist_helpers as wh
from tests.fleet.conftest import running_fleet
from tests.fleet.helpers import AgentStream, new_device

KEY = EmbedderKey("faceres", "test")
WATCHLIST = WatchlistRecord("w", "", 0.6, 1, "", 0, "t")  # messi at 0.35x: 0.64
PEOPLE = ("astronaut.png", "grace_hopper.jpg", "messi5.jpg")
DISTRACTORS = 3000
POLICY = AnnPolicy(min_templates=100, candidates=16)


@functools.cache
def _real() -> dict[str, np.ndarray]:
    """Enrolment vectors of the three portraits, as a box's face chain computes them."""
    return {name: wh.box_embedding(wh.image(name)) for name in PEOPLE}


@functools.cache
def _probes() -> list[tuple[str, np.ndarray]]:
    """The same people at other resolutions (what a camera further away sees)."""
    out = []
    for name in PEOPLE:
        for scale in (0.5, 0.35):
            img = cv2.resize(wh.image(name), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            out.append((name, wh.box_embedding(img)))
    return out


def _row(subject: str, vector: np.ndarray, photo: int = 0, expires: int = 0) -> GalleryRow:
    template = Template(subject, KEY, photo, vector.shape[0], vector.astype("<f4").tobytes())
    return GalleryRow(template, WATCHLIST, subject.upper(), expires)


def _rows(expiring: str = "", expires: int = 0) -> list[GalleryRow]:
    rng = np.random.default_rng(5)
    dims = next(iter(_real().values())).shape[0]
    noise = unit_rows(rng.standard_normal((DISTRACTORS, dims), dtype=np.float32))
    rows = [_row(f"d{i}", v) for i, v in enumerate(noise[: DISTRACTORS // 2])]
    rows += [_row(n, v, expires=expires if n == expiring else 0) for n, v in _real().items()]
    rows += [_row(f"d{i}", v) for i, v in enumerate(noise[DISTRACTORS // 2 :], DISTRACTORS)]
    return rows


def _with_index(builder: GalleryBuilder, rows: list[GalleryRow]) -> Gallery:
    """A generation that is searched through an index built the way the matcher does."""
    first = builder.build(rows)[KEY]
    assert first.ann is None and builder.wanted == {KEY}  # too big to index synchronously
    builder.install(KEY, build_slot(first, builder.policy, threading.Event()))
    gallery = builder.build(rows)[KEY]
    assert gallery.ann is not None and not builder.wanted
    return gallery


def _top(gallery: Gallery, vector: np.ndarray, now_us: int = 1) -> list[str]:
    return [m.subject_id for m in gallery.search(vector, "site", now_us)]


def test_ann_finds_the_same_top1_as_exact_search_on_real_faces() -> None:
    gallery = _with_index(GalleryBuilder(POLICY), _rows())
    exact = gallery.with_ann(None)
    rng = np.random.default_rng(9)
    strangers = unit_rows(rng.standard_normal((20, gallery.dimensions), dtype=np.float32))
    for name, probe in _probes():
        assert _top(gallery, probe) == _top(exact, probe) == [name]
    for probe in strangers:  # nobody enrolled: neither path reports anyone
        assert _top(gallery, probe) == _top(exact, probe) == []
    batch = np.stack([p for _, p in _probes()])
    found = gallery.search_many(batch, ["site"] * len(batch), 1)
    assert [[m.subject_id for m in f] for f in found] == [[n] for n, _ in _probes()]
    ann = gallery.search(batch[0], "site", 1)[0].score  # re-scored exactly, not f16's
    assert ann == pytest.approx(_exact_score(exact, PEOPLE[0], batch[0]), abs=1e-6)


def _exact_score(gallery: Gallery, subject: str, probe: np.ndarray) -> float:
    row = gallery.identities.index((subject, 0))
    return float(gallery.matrix[row] @ probe)


def test_expired_subject_stops_matching_at_once_with_the_index() -> None:
    expires = 1_000_000
    gallery = _with_index(GalleryBuilder(POLICY), _rows("astronaut.png", expires))
    probe = _probes()[0][1]
    assert _top(gallery, probe, expires - 1) == ["astronaut.png"]
    assert _top(gallery, probe, expires) == []  # no rebuild, no reload: the same gallery
    assert _top(gallery.with_ann(None), probe, expires) == []


def test_removal_and_enrolment_update_the_index_without_a_rebuild() -> None:
    builder = GalleryBuilder(POLICY)
    rows = _rows()
    gallery = _with_index(builder, rows)
    hopper = dict(_probes())["grace_hopper.jpg"]
    assert _top(gallery, hopper) == ["grace_hopper.jpg"]
    entries = builder.ann_templates(KEY)

    without = [r for r in rows if r.template.subject_id != "grace_hopper.jpg"]
    after = builder.build(without)[KEY]
    assert after.ann is not None and not builder.wanted  # updated in place, not rebuilt
    assert builder.ann_templates(KEY) == entries - 1
    assert _top(after, hopper) == []
    assert _top(gallery, hopper) == []  # the shared index no longer proposes her at all

    again = [*without, _row("hopper-again", hopper, photo=3)]
    later = builder.build(again)[KEY]
    assert later.ann is not None and builder.ann_templates(KEY) == entries
    assert _top(later, hopper) == ["hopper-again"]


def test_a_template_the_index_still_holds_never_matches_once_removed() -> None:
    """The filter, independent of deletion from the index: absent rows map to no row."""
    rows = _rows()
    full = Gallery.of_rows(KEY, rows)
    slot = build_slot(full, POLICY, threading.Event())
    kept = [r for r in rows if r.template.subject_id != "messi5.jpg"]
    gallery = Gallery.of_rows(KEY, kept)
    row_of_key = np.full(slot.next_key, -1, np.int64)
    for row, identity in enumerate(gallery.identities):
        row_of_key[slot.key_of[identity]] = row
    stale = gallery.with_ann(AnnView(slot.index, row_of_key, 16))
    messi = dict(_probes())["messi5.jpg"]
    assert len(slot.index) == len(rows)  # messi is still in the index
    assert _top(full.with_ann(AnnView(slot.index, np.arange(len(rows)), 16)), messi) == [
        "messi5.jpg"
    ]
    assert _top(stale, messi) == []


def test_a_stop_request_ends_an_index_build() -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(AnnError, match="stopped"):
        build_slot(Gallery.of_rows(KEY, _rows()), POLICY, stop)


@pytest.mark.anyio
@pytest.mark.timeout(180)
async def test_the_server_searches_a_large_gallery_through_its_index(tmp_path: Path) -> None:
    settings = WatchlistSettings(ann_min_templates=2, ann_candidates=8)
    async with running_fleet(tmp_path / "fleet", watchlists=settings) as fleet:
        admin = bearer_metadata(fleet.admin)
        s = wh.stub(fleet.api)
        await s.CreateWatchlist(pb.CreateWatchlistRequest(name="w"), metadata=admin)
        ids = {}
        flipped = wh.png(cv2.flip(wh.image("astronaut.png"), 1))
        photos = {
            "astronaut.png": [wh.photo("astronaut.png"), flipped],  # two templates
            "grace_hopper.jpg": [wh.photo("grace_hopper.jpg")],
        }
        for name, data in photos.items():
            request = pb.AddSubjectRequest(
                watchlist="w",
                name=name,
                reason="test",
                photos=[pb.Photo(filename=name, data=d) for d in data],
            )
            ids[name] = (await s.AddSubject(request, metadata=admin, timeout=120)).subject_id
        matcher = fleet.server.app.ingestor.on_commit[0].__self__  # type: ignore[attr-defined]
        await matcher.index_ready()
        assert len(list((tmp_path / "fleet" / ANN_DIR).glob("*.usearch"))) == 1  # kept for restarts
        metrics = fleet.server.app.metrics.registry
        embedder = "{}@{}".format(*wh.embedder_version())
        labels = {"embedder": embedder, "search": "ann"}
        assert metrics.get_sample_value("oko_fleet_watchlist_gallery_templates", labels) == 3
        removal = pb.RemoveSubjectRequest(subject_id=ids["grace_hopper.jpg"])
        await s.RemoveSubject(removal, metadata=admin)
        assert metrics.get_sample_value("oko_fleet_watchlist_gallery_templates", labels) == 2

        probes = dict(_probes())
        events = [
            wh.face_event("cam-1", 1, probes["astronaut.png"]),
            wh.face_event("cam-1", 2, probes["grace_hopper.jpg"]),
        ]
        ident = await new_device(fleet.server, fleet.admin, fleet.ca)
        async with ident.channel(fleet.server.agent_port) as channel:
            stream = AgentStream(channel)
            stream.send_batch(events)
            assert (await stream.next("ack")).ack.accepted == 2
            stream.close()
        await matcher.idle.wait()
        alerts = (await s.ListAlerts(pb.ListAlertsRequest(), metadata=admin)).alerts
        assert [a.subject_id for a in alerts] == [ids["astronaut.png"]]

"""Watchlists and subjects over real gRPC/TLS, enrolled with the real face models."""

from __future__ import annotations

import grpc
import pytest

from proto.oko.v1 import admin_pb2
from proto.oko.v1 import watchlists_pb2 as pb
from proto.transport import bearer_metadata
from tests.fleet import watchlist_helpers as wh
from tests.fleet.conftest import Fleet

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


def _md(token: str) -> tuple[tuple[str, str], ...]:
    return bearer_metadata(token)


async def _refused(call: object, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    assert info.value.code() == code, info.value.details()
    return info.value.details() or ""


async def test_enrol_list_show_remove_a_subject_from_a_real_photo(fleet: Fleet) -> None:
    s = wh.stub(fleet.api)
    admin = _md(fleet.admin)
    made = await s.CreateWatchlist(
        pb.CreateWatchlistRequest(name="wanted", site="site-a", description="test"),
        metadata=admin,
    )
    assert (made.name, made.site, made.top_k) == ("wanted", "site-a", 3)
    assert 0 < made.threshold < 1
    request = pb.AddSubjectRequest(
        watchlist="wanted",
        name="Eileen Collins",
        reason="test enrolment",
        photos=[pb.Photo(filename="astronaut.png", data=wh.photo("astronaut.png"))],
    )
    subject = await s.AddSubject(request, metadata=admin, timeout=120)
    name, version = wh.embedder_version()
    (gallery,) = subject.galleries
    assert (gallery.embedder_name, gallery.embedder_version) == (name, version)
    assert gallery.templates == 1 and gallery.dimensions == 1024
    (quality,) = subject.photo_quality
    assert quality.face_width_px > 60 and quality.quality > 0.5

    listed = await s.ListSubjects(pb.ListSubjectsRequest(watchlist="wanted"), metadata=admin)
    assert [x.subject_id for x in listed.subjects] == [subject.subject_id]
    shown = await s.GetSubject(pb.GetSubjectRequest(subject_id=subject.subject_id), metadata=admin)
    assert shown.reason == "test enrolment" and shown.photos == 1
    watchlist = await s.GetWatchlist(pb.GetWatchlistRequest(name="wanted"), metadata=admin)
    assert watchlist.subjects == 1 and watchlist.galleries[0].templates == 1

    await s.RemoveSubject(pb.RemoveSubjectRequest(subject_id=subject.subject_id), metadata=admin)
    listed = await s.ListSubjects(pb.ListSubjectsRequest(watchlist="wanted"), metadata=admin)
    assert list(listed.subjects) == []
    await _refused(
        s.GetSubject(pb.GetSubjectRequest(subject_id=subject.subject_id), metadata=admin),
        grpc.StatusCode.NOT_FOUND,
    )
    await s.DeleteWatchlist(pb.DeleteWatchlistRequest(name="wanted"), metadata=admin)
    left = await s.ListWatchlists(pb.ListWatchlistsRequest(), metadata=admin)
    assert list(left.watchlists) == []


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (wh.no_face, "no face found"),
        (wh.two_faces, "2 faces found"),
        (wh.blurred, "blurred"),
        # CenterFace (the boxes' detector) finds no face on its side at all; the pose
        # gate refuses the turned faces it does find. Either way the photo is refused.
        (wh.profile, "profile|no face found"),
        (wh.too_small, "too small"),
        (lambda: b"GIF89a not really", "not a readable JPEG or PNG"),
    ],
)
async def test_a_refused_photo_says_why_and_stores_nothing(
    fleet: Fleet, make: object, reason: str
) -> None:
    s = wh.stub(fleet.api)
    admin = _md(fleet.admin)
    await s.CreateWatchlist(pb.CreateWatchlistRequest(name="w1"), metadata=admin)
    good = pb.Photo(filename="good.png", data=wh.photo("astronaut.png"))
    bad = pb.Photo(filename="bad.png", data=make())  # type: ignore[operator]
    request = pb.AddSubjectRequest(watchlist="w1", name="x", reason="r", photos=[good, bad])
    details = await _refused(
        s.AddSubject(request, metadata=admin, timeout=120), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert "bad.png" in details and "good.png" not in details
    assert any(r in details for r in reason.split("|")), details
    listed = await s.ListSubjects(pb.ListSubjectsRequest(), metadata=admin)
    assert list(listed.subjects) == []


async def test_bad_requests_and_roles(fleet: Fleet) -> None:
    s = wh.stub(fleet.api)
    admin = _md(fleet.admin)
    viewer = _md(await wh.api_token(fleet.api, fleet.admin, "vic", admin_pb2.ROLE_VIEWER))
    operator = _md(await wh.api_token(fleet.api, fleet.admin, "olga", admin_pb2.ROLE_OPERATOR))
    one = [pb.Photo(filename="a.png", data=wh.photo("astronaut.png"))]
    add = pb.AddSubjectRequest(watchlist="nope", name="x", reason="r", photos=one)
    assert "nope" in await _refused(s.AddSubject(add, metadata=admin), grpc.StatusCode.NOT_FOUND)
    bad_name = pb.CreateWatchlistRequest(name="Has Spaces")
    await _refused(s.CreateWatchlist(bad_name, metadata=admin), grpc.StatusCode.INVALID_ARGUMENT)
    bad_threshold = pb.CreateWatchlistRequest(name="ok", threshold=1.5)
    assert "threshold" in await _refused(
        s.CreateWatchlist(bad_threshold, metadata=admin), grpc.StatusCode.INVALID_ARGUMENT
    )
    create = pb.CreateWatchlistRequest(name="w2")
    await _refused(s.CreateWatchlist(create, metadata=operator), grpc.StatusCode.PERMISSION_DENIED)
    await s.CreateWatchlist(create, metadata=admin)
    await _refused(s.CreateWatchlist(create, metadata=admin), grpc.StatusCode.INVALID_ARGUMENT)
    add = pb.AddSubjectRequest(watchlist="w2", name="x", reason="r", photos=one)
    await _refused(s.AddSubject(add, metadata=viewer), grpc.StatusCode.PERMISSION_DENIED)
    no_reason = pb.AddSubjectRequest(watchlist="w2", name="x", photos=one)
    assert "reason" in await _refused(
        s.AddSubject(no_reason, metadata=operator), grpc.StatusCode.INVALID_ARGUMENT
    )
    no_photo = pb.AddSubjectRequest(watchlist="w2", name="x", reason="r")
    assert "photos" in await _refused(
        s.AddSubject(no_photo, metadata=operator), grpc.StatusCode.INVALID_ARGUMENT
    )
    past = pb.AddSubjectRequest(watchlist="w2", name="x", reason="r", photos=one)
    past.expires_at.FromSeconds(1_000_000)
    assert "past" in await _refused(
        s.AddSubject(past, metadata=operator, timeout=120), grpc.StatusCode.INVALID_ARGUMENT
    )
    added = await s.AddSubject(add, metadata=operator, timeout=120)
    assert added.created_by == "olga"
    await s.ListSubjects(pb.ListSubjectsRequest(), metadata=viewer)  # viewers may look
    await _refused(
        s.RemoveSubject(pb.RemoveSubjectRequest(subject_id=added.subject_id), metadata=viewer),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await _refused(s.ListWatchlists(pb.ListWatchlistsRequest()), grpc.StatusCode.UNAUTHENTICATED)

"""Galleries per embedder version: a new version's gallery is made from the stored photos
(`okoctl watchlist reembed`), faces of a version without one are never matched."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import grpc
import pytest
from typer.testing import CliRunner

from fleet.config import WatchlistSettings
from fleet.ctl import app
from models import MANIFEST_PATH
from proto.oko.v1 import admin_pb2, galleries_pb2_grpc
from proto.oko.v1 import galleries_pb2 as gpb
from proto.oko.v1 import watchlists_pb2 as pb
from proto.transport import bearer_metadata
from tests.fleet import watchlist_helpers as wh
from tests.fleet.conftest import Fleet, running_fleet
from tests.fleet.helpers import AgentStream, new_device

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(300)]
NEW = "1.1.0-test"


def _new_version_manifest(tmp: Path) -> Path:
    """The shipped face models with the embedder relabelled as version NEW (same weights:
    what matters here is the version tag, not different numbers)."""
    doc = json.loads(MANIFEST_PATH.read_text())
    keep = []
    for entry in doc["models"]:
        if entry["name"] in ("centerface", "faceres"):
            entry["file"] = str(MANIFEST_PATH.parent / entry["file"])
            if entry["name"] == "faceres":
                entry["version"] = NEW
            keep.append(entry)
    path = tmp / "manifest.json"
    path.write_text(json.dumps({**doc, "models": keep}))
    return path


async def _ctl(fleet: Fleet, *args: str) -> tuple[int, str, str]:
    env = {
        "OKO_FLEET": f"localhost:{fleet.server.api_port}",
        "OKO_TOKEN": fleet.admin,
        "OKO_CA_FILE": str(fleet.data_dir / "ca" / "ca.pem"),
        "COLUMNS": "200",
    }
    # In a thread: okoctl blocks, and the fleet it talks to runs on this event loop.
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


async def _alerts_after(fleet: Fleet, events: list) -> list[str]:
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        stream.send_batch(events)
        assert (await stream.next("ack")).ack.accepted == len(events)
        stream.close()
    matcher = fleet.server.app.ingestor.on_commit[0].__self__  # type: ignore[attr-defined]
    await asyncio.wait_for(matcher.idle.wait(), 30)
    listed = await wh.stub(fleet.api).ListAlerts(
        pb.ListAlertsRequest(), metadata=bearer_metadata(fleet.admin)
    )
    return [a.subject_name for a in listed.alerts]


async def test_reembed_makes_the_new_versions_gallery_from_the_stored_photos(
    tmp_path: Path,
) -> None:
    data = tmp_path / "fleet"
    name, old = wh.embedder_version()
    collins = wh.box_embedding(wh.image("astronaut.png")[::2, ::2].copy())
    async with running_fleet(data) as fleet:
        for args in (
            ("watchlist", "create", "w"),
            ("subject", "add", "--watchlist", "w", "--name", "Collins", "--reason", "t",
             "--photo", str(wh.DATA / "astronaut.png")),
            ("subject", "add", "--watchlist", "w", "--name", "Hopper", "--reason", "t",
             "--photo", str(wh.DATA / "grace_hopper.jpg")),
        ):  # fmt: skip
            code, _, err = await _ctl(fleet, *args)
            assert code == 0, err
        # A box already on the new version: no gallery for it, so no match (counted).
        assert await _alerts_after(fleet, [wh.face_event("c", 1, collins, (name, NEW))]) == []
        registry = fleet.server.app.metrics.registry
        assert registry.get_sample_value("oko_fleet_faces_no_gallery_total") == 1
        code, _, err = await _ctl(fleet, "watchlist", "reembed", "--embedder", f"{name}@{NEW}")
        assert code == 1 and f"has {name}@{old}" in err  # this fleet holds only the old one
        token = fleet.admin  # only a first start makes one

    # The fleet is upgraded: its manifest now holds the new embedder version.
    settings = WatchlistSettings(models_manifest=_new_version_manifest(tmp_path))
    async with running_fleet(data, watchlists=settings) as restarted:
        fleet = dataclasses.replace(restarted, admin=token)
        code, out, err = await _ctl(fleet, "watchlist", "reembed", "--embedder", f"{name}@{NEW}")
        assert code == 0, err
        assert "1/2 photos" in err and "2/2 photos" in err  # progress, on stderr
        assert "2 embedded" in out and "gallery holds 2 templates" in out
        code, out, err = await _ctl(fleet, "watchlist", "reembed", "--embedder", f"{name}@{NEW}")
        assert code == 0 and "0 embedded, 2 skipped" in out  # resumable: nothing left to do

        code, out, _ = await _ctl(fleet, "--json", "watchlist", "galleries")
        listed = json.loads(out)
        assert listed["enrolment_embedder"] == f"{name}@{NEW}"
        assert {(g["embedder_version"], g["templates"]) for g in listed["galleries"]} == {
            (old, 2),
            (NEW, 2),
        }
        # Faces of both versions now match, each against its own gallery.
        events = [wh.face_event("c", 2, collins, (name, NEW)), wh.face_event("c", 3, collins)]
        assert await _alerts_after(fleet, events) == ["Collins", "Collins"]

        code, _, err = await _ctl(fleet, "watchlist", "reembed", "--embedder", "faceres")
        assert code == 1 and "INVALID_ARGUMENT" in err and "NAME@VERSION" in err


async def test_only_admins_reembed_and_bad_embedder_names_are_refused(fleet: Fleet) -> None:
    stub = galleries_pb2_grpc.GalleryServiceStub(fleet.api)
    viewer = await wh.api_token(fleet.api, fleet.admin, "vic", admin_pb2.ROLE_VIEWER)
    operator = await wh.api_token(fleet.api, fleet.admin, "olga", admin_pb2.ROLE_OPERATOR)
    for token in (viewer, operator):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in stub.Reembed(
                gpb.ReembedRequest(embedder="faceres@9"), metadata=bearer_metadata(token)
            ):
                pass
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    listed = await stub.ListGalleries(gpb.ListGalleriesRequest(), metadata=bearer_metadata(viewer))
    assert list(listed.galleries) == [] and listed.enrolment_embedder.startswith("faceres@")
    for bad in ("", "faceres", "@1", "Face Res@1", "faceres@1\n2", "faceres@1\n", "x" * 70 + "@1"):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in stub.Reembed(
                gpb.ReembedRequest(embedder=bad), metadata=bearer_metadata(fleet.admin)
            ):
                pass
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "embedder must be NAME@VERSION" in (refused.value.details() or "")

"""A gallery for dlib's ResNet, made by the fleet from the stored photos, matches dlib faces.

The shipped manifest holds `dlib-resnet`, so a fleet can re-embed its galleries for boxes
that select it (`faces.embedder: dlib-resnet`). The fleet's enrolment chain aligns each
photo on the embedder's own template (dlib's 150 px chip, not ArcFace's), so a box's dlib
face of Eileen Collins - another resolution of the photo - alerts Collins and nobody else,
at dlib's own threshold (docs/faces.md "Embedder choice": a watchlist's threshold is not
per embedder, so this watchlist is created at dlib's 0.965).
"""

from __future__ import annotations

import asyncio
import functools

import numpy as np
import pytest
from typer.testing import CliRunner

from agent.faces.embedding import FaceEmbedder
from agent.faces.face_detector import FaceDetector
from agent.inference.backend import load_model
from fleet.ctl import app
from proto.oko.v1 import watchlists_pb2 as pb
from proto.transport import bearer_metadata
from tests.fleet import watchlist_helpers as wh
from tests.fleet.conftest import Fleet
from tests.fleet.helpers import AgentStream, new_device

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(300)]
DLIB = ("dlib-resnet", "1.0.0")
DLIB_THRESHOLD = "0.965"


@functools.cache
def _dlib_chain() -> tuple[FaceDetector, FaceEmbedder]:
    return (
        FaceDetector(load_model("centerface", "fp32", "onnxruntime", 1)),
        FaceEmbedder(load_model(DLIB[0], "fp32", "onnxruntime", 1)),
    )


def _dlib_box_embedding(img: np.ndarray) -> np.ndarray:
    """What a box with `faces.embedder: dlib-resnet` computes for the best face of `img`."""
    detector, embedder = _dlib_chain()
    (faces,) = detector.detect([img])
    assert len(faces) and faces.keypoints is not None
    best = int(np.argmax(faces.confidence))
    vector: np.ndarray = embedder.embed(embedder.align(img, faces.keypoints[best])[None])[0]
    return vector


async def _ctl(fleet: Fleet, *args: str) -> tuple[int, str, str]:
    env = {
        "OKO_FLEET": f"localhost:{fleet.server.api_port}",
        "OKO_TOKEN": fleet.admin,
        "OKO_CA_FILE": str(fleet.data_dir / "ca" / "ca.pem"),
        "COLUMNS": "200",
    }
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


async def test_dlib_gallery_from_stored_photos_matches_only_the_right_subject(
    fleet: Fleet,
) -> None:
    collins = _dlib_box_embedding(wh.image("astronaut.png")[::2, ::2].copy())
    for args in (
        ("watchlist", "create", "wd", "--threshold", DLIB_THRESHOLD),
        ("subject", "add", "--watchlist", "wd", "--name", "Collins", "--reason", "t",
         "--photo", str(wh.DATA / "astronaut.png")),
        ("subject", "add", "--watchlist", "wd", "--name", "Hopper", "--reason", "t",
         "--photo", str(wh.DATA / "grace_hopper.jpg")),
        ("watchlist", "reembed", "--embedder", "{}@{}".format(*DLIB)),
    ):  # fmt: skip
        code, out, err = await _ctl(fleet, *args)
        assert code == 0, err
    assert "2 embedded" in out, out
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        stream.send_batch([wh.face_event("c", 7, collins, DLIB)])
        assert (await stream.next("ack")).ack.accepted == 1
        stream.close()
    matcher = fleet.server.app.ingestor.on_commit[0].__self__  # type: ignore[attr-defined]
    await asyncio.wait_for(matcher.idle.wait(), 30)
    listed = await wh.stub(fleet.api).ListAlerts(
        pb.ListAlertsRequest(), metadata=bearer_metadata(fleet.admin)
    )
    assert [a.subject_name for a in listed.alerts] == ["Collins"]

"""Face events on the wire and on the box: `oko.v1.Face`, JSON, kept shots, config errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from google.protobuf import json_format

from agent.config.analytics import CameraAnalyticsConfig, FaceConfig
from agent.config.base import parse_document
from agent.errors import ConfigError, OkoError
from agent.events.convert import EventMinter
from agent.events.types import AnalyticsEvent, FaceShot, ZoneEnter
from agent.faces.embedding import cosine, decode_float16
from agent.faces.shots import FaceShotStore
from agent.inference.manifest import load_manifest
from proto.oko.v1 import events_pb2
from tests.analytics.faces_support import hopper_face_event


@pytest.fixture(scope="module")
def face_event() -> AnalyticsEvent:
    return hopper_face_event()


def test_face_event_becomes_an_oko_face_message_without_the_image(
    face_event: AnalyticsEvent,
) -> None:
    msg = EventMinter("cam-1").mint(face_event)
    assert msg.WhichOneof("body") == "face" and msg.track_id == 3
    face = msg.face
    assert face.encoding == events_pb2.Face.ENCODING_FLOAT16 and face.dimensions == 1024
    spec = load_manifest().best("faceres", "fp32")
    assert (face.embedder.name, face.embedder.version, face.embedder.sha256) == (
        spec.name,
        spec.version,
        spec.sha256,
    )
    assert face.quality == pytest.approx(face_event.detail_as(FaceShot).quality, abs=1e-6)
    assert face.detector_score == pytest.approx(
        face_event.detail_as(FaceShot).detector_score, abs=1e-6
    )
    assert (face.face_box.x1, face.face_box.y2) == pytest.approx(
        (face_event.detail_as(FaceShot).face_box[0], face_event.detail_as(FaceShot).face_box[3]),
        abs=1e-3,
    )
    wire = events_pb2.Event.FromString(msg.SerializeToString())
    vec = decode_float16(wire.face.embedding, wire.face.dimensions)
    assert (
        float(cosine(vec, decode_float16(face_event.detail_as(FaceShot).embedding, 1024))[0, 0])
        > 0.999
    )
    # The shot is never serialised: 1024-d float16 plus small fields, not a JPEG's worth.
    assert len(msg.SerializeToString()) < 2048 + 400
    assert "shot" not in json.dumps(json_format.MessageToDict(msg))


def test_shot_store_keeps_the_best_shot_named_by_event_id(
    face_event: AnalyticsEvent, tmp_path: Path
) -> None:
    other = AnalyticsEvent(ZoneEnter(0.0, 1), "z", 1.0, 4, "person")
    events = [other, face_event]
    wire = EventMinter("cam-1").mint_all(events)
    store = FaceShotStore(tmp_path / "shots")
    (path,) = store.save(events, wire)
    assert path == tmp_path / "shots" / f"{wire[1].event_id}.jpg"
    image = cv2.imread(str(path))
    assert image is not None and image.shape == (112, 112, 3)
    diff = np.abs(image.astype(int) - face_event.detail_as(FaceShot).shot.astype(int)).mean()
    assert diff < 6, "JPEG should be a faithful copy of the aligned shot"
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == [path.name]


def test_shot_store_refuses_mismatched_input_and_unwritable_folders(
    face_event: AnalyticsEvent, tmp_path: Path
) -> None:
    store = FaceShotStore(tmp_path)
    with pytest.raises(ValueError, match="1 events but 0 minted"):
        store.save([face_event], [])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OkoError, match="cannot keep face shots"):
        FaceShotStore(blocker / "shots")


def test_face_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"faces\.encoding"):
        parse_document(CameraAnalyticsConfig, {"faces": {"encoding": "bf16"}})
    with pytest.raises(ConfigError, match=r"faces\.min_face_px"):
        parse_document(CameraAnalyticsConfig, {"faces": {"min_face_px": 2}})
    with pytest.raises(ConfigError, match="emit_quality"):
        parse_document(CameraAnalyticsConfig, {"faces": {"min_quality": 0.8, "emit_quality": 0.5}})
    assert parse_document(CameraAnalyticsConfig, {"faces": {}}).faces == FaceConfig()

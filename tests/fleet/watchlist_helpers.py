"""Real photos, real face models, real tokens for the watchlist tests.

Face events are made the way a box makes them: the agent's face detector, alignment and
embedder on a (resized) real photo, encoded with the agent's wire encoding.
"""

from __future__ import annotations

import functools
import uuid
from pathlib import Path

import cv2
import grpc
import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from agent.faces.align import align_face
from agent.faces.embedding import FaceEmbedder, encode_float16, encode_int8
from agent.faces.face_detector import FaceDetector
from agent.inference.backend import load_model
from proto.oko.v1 import admin_pb2, events_pb2, watchlists_pb2_grpc
from proto.transport import bearer_metadata
from tests.fleet.helpers import admin_stub

DATA = Path(__file__).resolve().parents[1] / "data"


def image(name: str) -> np.ndarray:
    return image_at(DATA / name)


def image_at(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    assert img is not None, path
    return img


def png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def photo(name: str) -> bytes:
    return (DATA / name).read_bytes()


def two_faces() -> bytes:
    # Two faces of about the same size (the enrolment ignores a much smaller face behind
    # the subject): the astronaut beside her own mirror image.
    left = image("astronaut.png")
    return png(np.hstack([left, cv2.flip(left, 1)]))


def blurred() -> bytes:
    return png(cv2.GaussianBlur(image("grace_hopper.jpg"), (0, 0), 5))


def profile() -> bytes:  # the face on its side: eyes one above the other
    return png(cv2.rotate(image("astronaut.png"), cv2.ROTATE_90_CLOCKWISE))


def too_small() -> bytes:
    return png(cv2.resize(image("astronaut.png"), (90, 90)))


def no_face() -> bytes:
    return png(image("astronaut.png")[300:, 300:])


@functools.cache
def _models() -> tuple[FaceDetector, FaceEmbedder]:
    return (
        FaceDetector(load_model("blazeface-back", "fp32")),
        FaceEmbedder(load_model("faceres", "fp32")),
    )


def embedder_version() -> tuple[str, str]:
    spec = _models()[1].model.spec
    return spec.name, spec.version


def box_embedding(img: np.ndarray) -> np.ndarray:
    """What a box's face chain computes for the best face of `img`."""
    detector, embedder = _models()
    (faces,) = detector.detect([img])
    assert len(faces) and faces.keypoints is not None
    best = int(np.argmax(faces.confidence))
    crop = align_face(img, faces.keypoints[best], embedder.size)
    vector: np.ndarray = embedder.embed(crop[None])[0]
    return vector


def face_event(
    camera_id: str,
    track_id: int,
    vector: np.ndarray,
    embedder: tuple[str, str] | None = None,
    int8: bool = False,
) -> events_pb2.Event:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    name, version = embedder or embedder_version()
    msg = events_pb2.Event(
        event_id=str(uuid.uuid4()),
        camera_id=camera_id,
        sequence=track_id,
        capture_time=stamp,
        track_id=track_id,
        confidence=0.9,
        box=events_pb2.Box(x1=1, y1=2, x2=30, y2=60),
    )
    msg.face.embedding = encode_int8(vector[None]) if int8 else encode_float16(vector[None])
    msg.face.encoding = events_pb2.Face.ENCODING_INT8 if int8 else events_pb2.Face.ENCODING_FLOAT16
    msg.face.dimensions = int(vector.shape[0])
    msg.face.embedder.name = name
    msg.face.embedder.version = version
    msg.face.quality = 0.8
    return msg


async def api_token(channel: grpc.aio.Channel, admin: str, name: str, role: int) -> str:
    reply = await admin_stub(channel).CreateApiToken(
        admin_pb2.CreateApiTokenRequest(name=name, role=role),  # type: ignore[arg-type]
        metadata=bearer_metadata(admin),
        timeout=10,
    )
    return reply.token


def stub(channel: grpc.aio.Channel) -> watchlists_pb2_grpc.WatchlistServiceAsyncStub:
    return watchlists_pb2_grpc.WatchlistServiceStub(channel)

"""Other models on the shared worker (`WorkerModel`): the box's face models take turns with
the detector on the worker's one thread, in their own per-camera lanes.

Real models: NanoDet as the worker's detector, the shipped BlazeFace as the added model,
on real frames (vtest.avi crops) and a real photograph.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.detect.object_detector import ObjectDetector
from agent.detect.worker import DetectFn, InferenceWorker, WorkerModel, WorkItem
from agent.detections import Detections
from agent.errors import ModelError
from agent.faces.face_detector import FaceDetector
from agent.inference.backend import load_model

PHOTO = Path(__file__).resolve().parents[1] / "data" / "astronaut.png"


@pytest.fixture(scope="module")
def faces() -> FaceDetector:
    return FaceDetector(load_model("blazeface-back"))


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    image = cv2.imread(str(PHOTO))
    assert image is not None
    return image


def test_models_take_turns_and_never_share_a_batch(
    detector: ObjectDetector,
    faces: FaceDetector,
    vtest_crops: list[np.ndarray],
    portrait: np.ndarray,
) -> None:
    batches: list[tuple[str, int, str]] = []

    def watched(name: str, run: DetectFn) -> DetectFn:
        def call(images: list[np.ndarray]) -> Sequence[Detections]:
            batches.append((name, len(images), threading.current_thread().name))
            return run(images)

        return call

    worker = InferenceWorker(watched("detector", detector.detect), max_batch=4).start()
    face_model = WorkerModel(worker, "faces", watched("faces", faces.detect))
    expected = faces.detect([portrait])[0]
    got: dict[str, list[Detections]] = {}

    def camera(cam: str) -> None:
        got[cam] = []
        for seq in range(6):
            worker.submit(WorkItem(cam, [vtest_crops[seq % len(vtest_crops)]], payload=seq))
            got[cam] += face_model(cam, [portrait, portrait])

    threads = [threading.Thread(target=camera, args=(c,)) for c in ("north", "south")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    worker.stop(30)

    assert {name for name, _, _ in batches} == {"detector", "faces"}
    assert {thread for _, _, thread in batches} == {"inference"}
    assert all(n <= worker.max_batch for _, n, _ in batches)
    for cam in ("north", "south"):
        assert len(got[cam]) == 12  # every face call answered, one result per image
        for found in got[cam]:
            assert len(found) == len(expected)
            np.testing.assert_allclose(found.xyxy, expected.xyxy, atol=0.5)
    lanes = worker.stats("faces")
    assert {c: (s.processed, s.images, s.skipped) for c, s in lanes.items()} == {
        "north": (6, 12, 0),
        "south": (6, 12, 0),
    }
    # The detector's own accounting is unchanged by the face work beside it.
    for s in worker.stats().values():
        assert s.submitted == s.processed + s.skipped + s.pending + s.in_flight == 6
    assert worker.model_batches["faces"] >= 6  # at least one call per pair of calls at once


def test_a_failing_model_call_fails_alone(
    detector: ObjectDetector, faces: FaceDetector, portrait: np.ndarray
) -> None:
    with InferenceWorker(detector.detect) as worker:
        face_model = WorkerModel(worker, "faces", faces.detect)
        with pytest.raises(ModelError, match=r"camera cam: faces failed: .*BGR uint8"):
            face_model("cam", [portrait[:, :, 0]])
        assert len(face_model("cam", [portrait])) == 1  # the lane still works
        assert face_model("cam", []) == []
    with pytest.raises(ValueError, match="already added"):
        WorkerModel(worker, "faces", faces.detect)


def test_a_stopped_worker_answers_with_an_error_instead_of_hanging(
    detector: ObjectDetector, faces: FaceDetector, portrait: np.ndarray
) -> None:
    worker = InferenceWorker(detector.detect)  # never started: the call stays pending
    face_model = WorkerModel(worker, "faces", faces.detect)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            face_model("cam", [portrait])
        except ModelError as err:
            errors.append(err)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 30
    while "cam" not in worker.stats("faces") and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    caller.join(30)
    assert not caller.is_alive() and len(errors) == 1
    assert "stopped before running it" in str(errors[0])
    assert worker.stats("faces")["cam"].skipped == 1
    with pytest.raises(ModelError, match="stopped"):
        face_model("cam", [portrait])

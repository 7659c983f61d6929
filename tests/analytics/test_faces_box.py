"""Face models once per box: two cameras of one `EdgeBox` share one loaded face model pair,
and their face inference runs on the box's inference worker thread, never on the cameras'.

Real parts throughout: the shipped NanoDet, BlazeFace and FaceRes models, two cameras
reading real footage (vtest.avi) with the face gates opened to their floor so that the
clip's small faces do reach the models (as in test_faces_pipeline.py).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.analytics.faces import FaceAnalyzer
from agent.config.agent import AgentConfig, BoxConfig, MetricsSection
from agent.config.analytics import FaceConfig
from agent.config.camera import CameraSpec
from agent.faces.models import CameraFaceModels, FaceModelPair
from agent.inference import backend
from agent.pipeline.box import EdgeBox
from tests.analytics.faces_support import object_detector
from tests.pipeline.conftest import excerpt

# BlazeFace-back: CenterFace (the default) measures vtest's faces at 5-8 px, below the 8 px
# floor, and would rightly embed none; this test needs the embedder to run too.
OPEN_GATES = FaceConfig(
    detector="blazeface-back",
    min_face_px=8,
    score_threshold=0.5,
    min_quality=0.0,
    emit_quality=1.0,
)


def _recording(real: Callable[..., Any], log: list[str], name: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        log.append(f"{name}@{threading.current_thread().name}")
        return real(*args, **kwargs)

    return wrapper


def test_two_cameras_share_one_face_pair_run_on_the_inference_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: Counter[str] = Counter()
    real_load = backend.load_model

    def counting_load(name: str, *args: Any, **kwargs: Any) -> Any:
        loads[name] += 1
        return real_load(name, *args, **kwargs)

    calls: list[str] = []
    monkeypatch.setattr(backend, "load_model", counting_load)
    monkeypatch.setattr(FaceModelPair, "detect", _recording(FaceModelPair.detect, calls, "detect"))
    monkeypatch.setattr(
        FaceModelPair, "embed_each", _recording(FaceModelPair.embed_each, calls, "embed")
    )
    clip = excerpt(tmp_path / "vtest-60.avi", 60, 50)
    cameras = tuple(
        CameraSpec(id=cam, source=str(clip), realtime=False, faces=OPEN_GATES)
        for cam in ("cam-a", "cam-b")
    )
    agent = AgentConfig(data_dir=tmp_path / "data", metrics=MetricsSection(enabled=False))
    box = EdgeBox(BoxConfig(agent, cameras, has_fleet=False), object_detector())
    assert loads == {"blazeface-back": 1, "faceres": 1}, "one face model pair per box"
    analyzers = [cam.stage.analytics.faces for cam in box.cameras.values()]
    assert all(isinstance(a, FaceAnalyzer) for a in analyzers)
    views = [a.models for a in analyzers if a is not None]
    assert all(isinstance(v, CameraFaceModels) for v in views)
    a, b = views
    assert isinstance(a, CameraFaceModels) and isinstance(b, CameraFaceModels)
    assert a.shared is b.shared and (a.camera_id, b.camera_id) == ("cam-a", "cam-b")

    box.start()
    try:
        for cam in box.cameras.values():
            cam.pipeline.join(240)
    finally:
        box.stop()

    assert {c.split("@")[0] for c in calls} == {"detect", "embed"}
    assert {c.split("@")[1] for c in calls} == {"inference"}, "face models ran off the worker"
    lanes = box.worker.stats("face-detector")
    assert set(lanes) == {"cam-a", "cam-b"}
    assert all(s.processed > 0 and s.errors == 0 and s.skipped == 0 for s in lanes.values())
    faces = {cid: cam.stage.stats.events["face"] for cid, cam in box.cameras.items()}
    assert faces["cam-a"] > 0 and faces["cam-b"] > 0, faces

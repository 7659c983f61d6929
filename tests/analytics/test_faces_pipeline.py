"""Faces inside the real offline pipeline (reader -> gate -> detector -> tracker -> rules).

On 5 s of vtest.avi with the face gates opened to their floor (8 px faces, score 0.5, any
quality), so that the clip's small faces do reach the analyzer. BlazeFace-back is chosen
explicitly: CenterFace (the default) measures these faces at their true 5-8 px, below the
8 px floor, so it rightly reports none (docs/faces.md); this test is about the plumbing:
every face event minted by the pipeline has its best shot kept on disk under its event id,
and nothing else does.
"""

from __future__ import annotations

from pathlib import Path

import cv2

from agent.config.camera import CameraSpec
from agent.pipeline.detector_setup import make_detector
from agent.pipeline.offline import analyze_video
from tests.pipeline.conftest import excerpt


def test_pipeline_reports_faces_and_keeps_their_shots_on_the_box(tmp_path: Path) -> None:
    clip = excerpt(tmp_path / "vtest-60.avi", 60, 50)
    shots = tmp_path / "shots"
    spec = CameraSpec(
        id="cam-faces",
        source=str(clip),
        faces={
            "detector": "blazeface-back",
            "min_face_px": 8,
            "score_threshold": 0.5,
            "min_quality": 0.0,
            "emit_quality": 1.0,
            "best_shot_dir": str(shots),
        },
    )
    analysis = analyze_video(clip, spec, make_detector([spec]))
    result = analysis.run()
    faces = analysis.stage.analytics.faces
    assert faces is not None and faces.crops_examined > 0
    face_events = [e for e in result.events if e.WhichOneof("body") == "face"]
    assert face_events, "opened gates on vtest should report at least one (small) face"
    kept = sorted(p.name for p in shots.iterdir())
    assert kept == sorted(f"{e.event_id}.jpg" for e in face_events)
    for e in face_events:
        assert e.face.dimensions == 1024 and len(e.face.embedding) == 2048
        shot = cv2.imread(str(shots / f"{e.event_id}.jpg"))
        assert shot is not None and shot.shape == (112, 112, 3)

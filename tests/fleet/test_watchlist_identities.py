"""Genuine vs impostor similarity with the shipped embedder, on the real faces we have.

Method: faces of the 1927 Solvay photo (Debian visp-images-data) found by BlazeFace on
overlapping tiles at 2126 px and 1280 px wide (faces ~55-65 px and ~35-40 px), paired by
position: the same person at two resolutions is a genuine pair, two different people an
impostor pair. Plus the three portraits of tests/data against each other (impostors).

Limits, stated where the threshold is chosen (fleet/services/watchlists.py): genuine pairs
here are the same photograph at two resolutions, the easy case; genuine pairs from
different photographs of one person are not measured, so the true accept rate at the
threshold is unknown. What this does show is how high impostors go: the Solvay people,
all in one old black-and-white photo, score far higher against each other than the colour
portraits do, which is why the default threshold sits above them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.faces.align import align_face
from fleet.services.watchlists import DEFAULT_THRESHOLD
from tests.fleet import watchlist_helpers as wh

SOLVAY = Path("/usr/share/visp-images-data/ViSP-images/Solvay")
STEM = "Solvay_conference_1927_Version2_"


def _faces(image: np.ndarray, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """(centres (n, 2), unit embeddings (n, d)) of the faces found on overlapping tiles."""
    detector, embedder = wh._models()
    h, w = image.shape[:2]
    step = tile // 2
    found = []
    for y in range(0, max(1, h - step), step):
        for x in range(0, max(1, w - step), step):
            (faces,) = detector.detect([image[y : y + tile, x : x + tile]])
            assert faces.keypoints is not None
            offset = np.array([x, y], np.float32)
            rows = zip(faces.xyxy, faces.keypoints, faces.confidence, strict=True)
            for box, points, score in rows:
                if score >= 0.75:
                    found.append((box + np.tile(offset, 2), points + offset, float(score)))
    kept: list[tuple[np.ndarray, np.ndarray, float]] = []
    for box, points, score in sorted(found, key=lambda f: -f[2]):  # one per face
        centre = (box[:2] + box[2:]) / 2
        if all(np.abs(centre - (k[0][:2] + k[0][2:]) / 2).sum() > box[2] - box[0] for k in kept):
            kept.append((box, points, score))
    centres = np.array([(b[:2] + b[2:]) / 2 for b, _, _ in kept])
    crops = np.stack([align_face(image, p, embedder.size) for _, p, _ in kept])
    return centres, embedder.embed(crops)


@pytest.mark.timeout(600)
@pytest.mark.skipif(not SOLVAY.is_dir(), reason="Debian visp-images-data not installed")
def test_solvay_genuine_pairs_pass_and_impostors_stay_below_the_threshold() -> None:
    big = wh.image_at(SOLVAY / f"{STEM}2126x1463.png")
    small = wh.image_at(SOLVAY / f"{STEM}1280x881.png")
    centres_a, vectors_a = _faces(big, 256)
    centres_b, vectors_b = _faces(small, 160)
    assert len(centres_a) >= 25 and len(centres_b) >= 25  # 29 people in the photo
    distance = np.linalg.norm(centres_a[:, None] * (1280 / 2126) - centres_b[None], axis=2)
    scores = vectors_a @ vectors_b.T
    same = distance < 10
    other = distance > 30
    genuine, impostor = scores[same], scores[other]
    assert len(genuine) >= 25 and len(impostor) >= 500
    assert genuine.min() >= DEFAULT_THRESHOLD
    assert (impostor >= DEFAULT_THRESHOLD).mean() <= 0.01
    print(
        f"genuine n={len(genuine)} min {genuine.min():.3f}; impostor n={len(impostor)} "
        f"median {np.median(impostor):.3f} p99 {np.percentile(impostor, 99):.3f} "
        f"max {impostor.max():.3f}; above {DEFAULT_THRESHOLD}: "
        f"{(impostor >= DEFAULT_THRESHOLD).mean():.2%}"
    )


def test_the_portraits_are_impostors_to_each_other() -> None:
    names = ["astronaut.png", "grace_hopper.jpg", "messi5.jpg"]
    vectors = np.stack([wh.box_embedding(wh.image(n)) for n in names])
    scores = vectors @ vectors.T
    assert scores[np.triu_indices(3, 1)].max() < DEFAULT_THRESHOLD
    half = wh.box_embedding(wh.image("astronaut.png")[::2, ::2].copy())
    assert float(half @ vectors[0]) >= DEFAULT_THRESHOLD  # same photo, half the pixels

"""Genuine vs impostor similarity with the shipped face chain, on the real faces we have.

Method (bench/face_identity.py, figures in docs/faces.md): the 29 labelled faces of the 1927
Solvay photo (Debian visp-images-data) at six sizes and the three portraits of tests/data
at three, each through the boxes' chain: head crop -> CenterFace -> 5-point alignment ->
FaceRes. The gallery holds each person's largest face; every other face a box would send
(score >= 0.75, >= 20 px) is a probe.

Limits, stated where the threshold is chosen (fleet/services/watchlists.py): genuine pairs
here are one photograph at two resolutions; genuine pairs from different photographs of
one person are not measured, so the true accept rate at the threshold is unknown, and 32
identities cannot bound the false-alert rate of a large watchlist. What this does show is
where the impostors of one old monochrome group photo (everyone alike) reach.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.face_identity import collect, one_to_n, pair_scores
from bench.face_recall import SOLVAY_DIR
from fleet.services.watchlists import DEFAULT_THRESHOLD
from tests.fleet import watchlist_helpers as wh


@pytest.mark.timeout(900)
@pytest.mark.skipif(not SOLVAY_DIR.is_dir(), reason="Debian visp-images-data not installed")
def test_at_the_shipped_threshold_no_probe_alerts_a_wrong_person_and_nearly_all_match() -> None:
    samples, missed = collect(threads=2)
    assert missed <= 3 and len({s.identity for s in samples}) == 32
    probes = one_to_n(samples)
    assert len(probes) >= 50
    wrong = [p for p, _, impostor in probes if impostor >= DEFAULT_THRESHOLD]
    hits = [p for p, genuine, impostor in probes if genuine >= DEFAULT_THRESHOLD > impostor]
    assert wrong == []
    assert len(hits) >= 0.95 * len(probes)
    genuine, impostor = pair_scores([s for s in samples if s.gated])
    assert (impostor >= DEFAULT_THRESHOLD).mean() <= 0.001
    big = [s for s in samples if s.width >= 24]
    genuine_big, _ = pair_scores(big)
    assert genuine_big.min() >= DEFAULT_THRESHOLD  # every face of 24 px and more matches
    print(
        f"{len(probes)} probes: {len(hits)} matched, {len(wrong)} false alerts; pairs: "
        f"genuine min {genuine.min():.3f}, impostor p99 {np.percentile(impostor, 99):.3f} "
        f"max {impostor.max():.3f}"
    )


def test_the_portraits_are_impostors_to_each_other() -> None:
    names = ["astronaut.png", "grace_hopper.jpg", "messi5.jpg"]
    vectors = np.stack([wh.box_embedding(wh.image(n)) for n in names])
    scores = vectors @ vectors.T
    assert scores[np.triu_indices(3, 1)].max() < DEFAULT_THRESHOLD
    half = wh.box_embedding(wh.image("astronaut.png")[::2, ::2].copy())
    assert float(half @ vectors[0]) >= DEFAULT_THRESHOLD  # same photo, half the pixels

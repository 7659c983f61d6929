"""Genuine and impostor similarity of the shipped face chain on every real identity we have.

    python -m bench.face_identity [--threads 2]

Faces: the 29 people of the 1927 Solvay photo (labels: tests/data/labels/faces/solvay.json)
at its four published resolutions plus the 640 px version downscaled by 0.75 and 0.6 (8-12
px faces), and the three portraits of tests/data (Eileen Collins, Grace Hopper, Lionel
Messi) at full, half and quarter size: 32 identities, 6 or 3 versions each.

Chain, as a box runs it: a head crop 3x the labelled face's width centred on it ->
CenterFace (the default detector, letterboxed into its 160x160 canvas) -> the detection
that matches the label (centre inside the label, width within 2x) -> 5-point alignment ->
FaceRes embedding (FP32, ONNX Runtime). "Box gates" = what a box would send with the
default faces config: detector score >= 0.75 and face width >= 20 px.

Pairs: genuine = one person in two different versions; impostor = two different people
(any versions). 1:N: the gallery holds each person's largest version (what an operator
would enrol), every other gated version is a probe; a false alert is a probe whose best
*other* person reaches the threshold. Limits (docs/faces.md): genuine pairs are one
photograph at two resolutions, never two photographs taken apart.
"""

from __future__ import annotations

import argparse
import functools
import os
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bench.face_recall import LabelledImage, head_crops, match, photo_images, solvay_images
from bench.machine import describe

#: The faces analytic's defaults (agent/config/analytics.py FaceConfig).
BOX_SCORE = 0.75
BOX_MIN_PX = 20.0
THRESHOLDS = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
PORTRAIT_SCALES = (1.0, 0.5, 0.25)
WIDTH_BINS = ((8, 16), (16, 24), (24, 48), (48, 10_000))


@dataclass(frozen=True)
class Sample:
    """One embedded face: who, which version of which image, how big, how sure."""

    identity: str
    version: str
    width: float
    score: float
    vector: npt.NDArray[np.float32]

    @property
    def gated(self) -> bool:
        """Would a box with the default faces config send this face?"""
        return self.score >= BOX_SCORE and self.width >= BOX_MIN_PX


def _versions() -> list[tuple[str, LabelledImage]]:
    """(identity prefix, image) for every version of every photo."""
    out = [("solvay", image) for image in solvay_images()]
    for photo in photo_images():
        for scale in PORTRAIT_SCALES:
            scaled = LabelledImage(
                f"{photo.name}-x{scale}", photo.path, photo.boxes[:1] * scale, True, scale
            )
            out.append((photo.name, scaled))
    return out


@functools.cache
def collect(threads: int = 2) -> tuple[list[Sample], int]:
    """Every labelled face found and embedded; (samples, labelled faces not found).

    Cached: the identity test and the ANN tests share one run of the face chain.
    """
    from agent.faces.align import align_face
    from agent.faces.embedding import FaceEmbedder
    from agent.faces.face_detector import FaceDetector
    from agent.inference.backend import load_model

    detector = FaceDetector(load_model("centerface", "fp32", "onnxruntime", threads))
    embedder = FaceEmbedder(load_model("faceres", "fp32", "onnxruntime", threads))
    samples, missed = [], 0
    for prefix, item in _versions():
        image = item.load()
        crops, offsets = head_crops(image, item.boxes)
        found = detector.detect(crops)
        aligned, meta = [], []
        for i, (crop, faces, offset) in enumerate(zip(crops, found, offsets, strict=True)):
            label = item.boxes[i : i + 1] - np.tile(offset, 2)
            hits = [j for j in range(len(faces)) if match(label, faces.xyxy[j : j + 1])[0][0]]
            if not hits or faces.keypoints is None:
                missed += 1
                continue
            j = max(hits, key=lambda h: float(faces.confidence[h]))
            aligned.append(align_face(crop, faces.keypoints[j], embedder.size))
            who = f"solvay-{i:02d}" if prefix == "solvay" else prefix
            meta.append((who, float(label[0, 2] - label[0, 0]), float(faces.confidence[j])))
        if not aligned:
            continue
        vectors = embedder.embed(np.stack(aligned))
        for (who, width, score), vector in zip(meta, vectors, strict=True):
            samples.append(Sample(who, item.name, width, score, vector))
    return samples, missed


def pair_scores(samples: list[Sample]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(genuine, impostor) cosine scores over every pair of distinct samples."""
    vectors = np.stack([s.vector for s in samples])
    scores = vectors @ vectors.T
    ids = np.array([s.identity for s in samples])
    versions = np.array([s.version for s in samples])
    upper = np.triu(np.ones_like(scores, bool), 1)
    same = ids[:, None] == ids[None]
    genuine = scores[upper & same & (versions[:, None] != versions[None])]
    return genuine, scores[upper & ~same]


def one_to_n(samples: list[Sample]) -> list[tuple[Sample, float, float]]:
    """(probe, its genuine score, its best impostor score) against a gallery of each
    identity's largest face; probes are the other box-gated faces."""
    gallery: dict[str, Sample] = {}
    for s in samples:
        if s.identity not in gallery or s.width > gallery[s.identity].width:
            gallery[s.identity] = s
    enrolled = list(gallery.values())
    matrix = np.stack([g.vector for g in enrolled])
    out = []
    for probe in samples:
        if not probe.gated or probe is gallery[probe.identity]:
            continue
        scores = matrix @ probe.vector
        mine = np.array([g.identity == probe.identity for g in enrolled])
        out.append((probe, float(scores[mine][0]), float(scores[~mine].max())))
    return out


def _dist(name: str, values: npt.NDArray[np.float32]) -> str:
    if not len(values):
        return f"{name:28s} n=0"
    p = np.percentile(values, [0, 1, 5, 50, 95, 99, 100])
    return f"{name:28s} n={len(values):<5d} " + " ".join(f"{v:6.3f}" for v in p)


def report(samples: list[Sample], missed: int) -> None:
    """Print distributions, pairwise rates and 1:N rates per threshold."""
    gated = [s for s in samples if s.gated]
    print(
        f"{len(samples)} faces embedded ({missed} labelled faces not found), "
        f"{len({s.identity for s in samples})} identities; {len(gated)} pass the box gates "
        f"(score >= {BOX_SCORE}, width >= {BOX_MIN_PX:.0f} px)"
    )
    print(
        f"{'scores':28s} {'':7s} {'min':>6s} {'p1':>6s} {'p5':>6s} {'p50':>6s} "
        f"{'p95':>6s} {'p99':>6s} {'max':>6s}"
    )
    for label, group in (("all faces", samples), ("box-gated faces", gated)):
        genuine, impostor = pair_scores(group)
        print(_dist(f"{label}: genuine", genuine))
        print(_dist(f"{label}: impostor", impostor))
    for low, high in WIDTH_BINS[:-1]:
        print(_dist(f"genuine {low}-{high} px vs >=48 px", _genuine_vs_large(samples, low, high)))
    genuine, impostor = pair_scores(gated)
    probes = one_to_n(samples)
    print(
        f"\n1:N: gallery of {len({s.identity for s in samples})} (largest face each), "
        f"{len(probes)} box-gated probes"
    )
    print(f"{'threshold':>9s} {'pair FAR':>9s} {'pair TAR':>9s} {'1:N false':>9s} {'1:N hit':>9s}")
    for t in THRESHOLDS:
        false_alert = np.mean([imp >= t for _, _, imp in probes]) if probes else np.nan
        hit = np.mean([gen >= t and gen > imp for _, gen, imp in probes]) if probes else np.nan
        print(
            f"{t:>9.2f} {np.mean(impostor >= t):>9.4f} {np.mean(genuine >= t):>9.3f} "
            f"{false_alert:>9.3f} {hit:>9.3f}"
        )


def _genuine_vs_large(samples: list[Sample], low: float, high: float) -> npt.NDArray[np.float32]:
    """Genuine scores of faces low..high px wide against the same person's >= 48 px faces."""
    out = []
    for s in samples:
        if not low <= s.width < high:
            continue
        for big in samples:
            if big.identity == s.identity and big.width >= 48 and big.version != s.version:
                out.append(float(big.vector @ s.vector))
    return np.array(out, np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.1f}")
    samples, missed = collect(args.threads)
    report(samples, missed)


if __name__ == "__main__":
    main()

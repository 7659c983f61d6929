"""Genuine and impostor similarity of the shipped face chain on every real identity we have.

    python -m bench.face_identity [--threads 2] [--embedders faceres,dlib-resnet]

Faces: the 29 people of the 1927 Solvay photo (labels: tests/data/labels/faces/solvay.json)
at its four published resolutions plus the 640 px version downscaled by 0.75 and 0.6 (8-12
px faces), and the three portraits of tests/data (Eileen Collins, Grace Hopper, Lionel
Messi) at full, half and quarter size: 32 identities, 6 or 3 versions each.

Chain, as a box runs it: a head crop 3x the labelled face's width centred on it ->
CenterFace (the default detector, letterboxed into its 160x160 canvas) -> the detection
that matches the label (centre inside the label, width within 2x) -> 5-point alignment on
each embedder's own template -> embedding (FP32, ONNX Runtime). Every embedder named runs
on the very same detections in one run (FaceRes on the ArcFace template, dlib's ResNet on
dlib's 150 px chip), so their figures compare directly. "Box gates" = what a box would
send with the default faces config: detector score >= 0.75 and face width >= 20 px.

Threshold-free separation per embedder: AUC (share of genuine/impostor pairs ordered
right), d' (mean gap over pooled standard deviation) and 1:N rank-1 (probes whose own
template beats every other person's); then rates per threshold.

Pairs: genuine = one person in two different versions; impostor = two different people
(any versions). 1:N: the gallery holds each person's largest version (what an operator
would enrol), every other gated version is a probe; a false alert is a probe whose best
*other* person reaches the threshold. Limits (docs/faces.md): genuine pairs are one
photograph at two resolutions, never two photographs taken apart.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bench.face_recall import LabelledImage, head_crops, match, photo_images, solvay_images
from bench.machine import describe

#: The faces analytic's defaults (agent/config/analytics.py FaceConfig).
BOX_SCORE = 0.75
BOX_MIN_PX = 20.0
THRESHOLDS = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.92, 0.94, 0.95, 0.96, 0.965, 0.97)
EMBEDDERS = ("faceres", "dlib-resnet")
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


def collect(threads: int = 2, embedder: str = "faceres") -> tuple[list[Sample], int]:
    """`collect_each` for one embedder: (its samples, labelled faces not found)."""
    samples, missed = collect_each(threads, (embedder,))
    return samples[embedder], missed


def collect_each(
    threads: int = 2, embedders: tuple[str, ...] = EMBEDDERS
) -> tuple[dict[str, list[Sample]], int]:
    """Every labelled face found, embedded by each embedder; (samples by embedder, missed)."""
    from agent.faces.embedding import FaceEmbedder
    from agent.faces.face_detector import FaceDetector
    from agent.inference.backend import load_model

    detector = FaceDetector(load_model("centerface", "fp32", "onnxruntime", threads))
    models = {n: FaceEmbedder(load_model(n, "fp32", "onnxruntime", threads)) for n in embedders}
    samples: dict[str, list[Sample]] = {n: [] for n in embedders}
    missed = 0
    for prefix, item in _versions():
        image = item.load()
        crops, offsets = head_crops(image, item.boxes)
        found = detector.detect(crops)
        faces_meta, points = [], []
        for i, (crop, faces, offset) in enumerate(zip(crops, found, offsets, strict=True)):
            label = item.boxes[i : i + 1] - np.tile(offset, 2)
            hits = [j for j in range(len(faces)) if match(label, faces.xyxy[j : j + 1])[0][0]]
            if not hits or faces.keypoints is None:
                missed += 1
                continue
            j = max(hits, key=lambda h: float(faces.confidence[h]))
            points.append((crop, faces.keypoints[j]))
            who = f"solvay-{i:02d}" if prefix == "solvay" else prefix
            faces_meta.append((who, float(label[0, 2] - label[0, 0]), float(faces.confidence[j])))
        if not points:
            continue
        for name, embedder in models.items():
            vectors = embedder.embed(np.stack([embedder.align(c, k) for c, k in points]))
            for (who, width, score), vector in zip(faces_meta, vectors, strict=True):
                samples[name].append(Sample(who, item.name, width, score, vector))
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


def separation(samples: list[Sample]) -> tuple[float, float, float]:
    """(AUC, d', 1:N rank-1) on box-gated faces: threshold-free, so embedders whose
    scores live on different scales compare fairly."""
    genuine, impostor = pair_scores([s for s in samples if s.gated])
    if not len(genuine) or not len(impostor):
        return float("nan"), float("nan"), float("nan")
    order = np.searchsorted(np.sort(impostor), genuine, side="left")
    auc = float(order.mean() / len(impostor))
    spread = np.sqrt((genuine.var() + impostor.var()) / 2)
    d_prime = float((genuine.mean() - impostor.mean()) / max(spread, 1e-9))
    probes = one_to_n(samples)
    rank1 = float(np.mean([gen > imp for _, gen, imp in probes])) if probes else float("nan")
    return auc, d_prime, rank1


def report(name: str, samples: list[Sample], missed: int) -> None:
    """Print one embedder's distributions, pairwise rates and 1:N rates per threshold."""
    gated = [s for s in samples if s.gated]
    print(
        f"\n== {name}: {len(samples)} faces embedded ({missed} labelled faces not found), "
        f"{len({s.identity for s in samples})} identities; {len(gated)} pass the box gates "
        f"(score >= {BOX_SCORE}, width >= {BOX_MIN_PX:.0f} px)"
    )
    auc, d_prime, rank1 = separation(samples)
    print(f"separation (box-gated): AUC {auc:.6f}  d' {d_prime:.2f}  1:N rank-1 {rank1:.3f}")
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
    _rates(samples)


def _rates(samples: list[Sample]) -> None:
    genuine, impostor = pair_scores([s for s in samples if s.gated])
    probes = one_to_n(samples)
    print(
        f"1:N: gallery of {len({s.identity for s in samples})} (largest face each), "
        f"{len(probes)} box-gated probes"
    )
    if probes:
        worst = max(imp for _, _, imp in probes)
        above = float(np.mean([gen > worst and gen > imp for _, gen, imp in probes]))
        print(
            f"no 1:N false alert above {worst:.4f} (best impostor of any probe); "
            f"1:N hit rate just above it {above:.3f}"
        )
    print(f"{'threshold':>9s} {'pair FAR':>9s} {'pair TAR':>9s} {'1:N false':>9s} {'1:N hit':>9s}")
    for t in THRESHOLDS:
        false_alert = np.mean([imp >= t for _, _, imp in probes]) if probes else np.nan
        hit = np.mean([gen >= t and gen > imp for _, gen, imp in probes]) if probes else np.nan
        print(
            f"{t:>9.3f} {np.mean(impostor >= t):>9.4f} {np.mean(genuine >= t):>9.3f} "
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
    parser.add_argument(
        "--embedders", default=",".join(EMBEDDERS), help="comma-separated manifest names"
    )
    args = parser.parse_args()
    names = tuple(n.strip() for n in args.embedders.split(",") if n.strip())
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.1f}")
    samples, missed = collect_each(args.threads, names)
    for name in names:
        report(name, samples[name], missed)


if __name__ == "__main__":
    main()

"""Synthetic gallery templates with the distribution of real FaceRes embeddings.

A watchlist of 10^6 people cannot be photographed here, and random isotropic unit
vectors are not what a gallery looks like: two real FaceRes embeddings of different
people have cosine ~0.44 (bench/face_identity.py, docs/faces.md), two random 1024-d
vectors ~0.00. Real embeddings share a strong common direction and vary most along a
few others; that shape is what makes a graph index easy or hard, so it is kept.

The model (`fit`): the identity centres of every real face bench/face_identity.py
embeds (32 people: the Solvay photo and the portraits of tests/data, each person's unit
vectors averaged and re-normalised) give a mean `mean` and, by PCA, the `KEPT` leading
directions with their variances; the rest of the centres' variance is spread evenly over
the other dimensions (32 centres cannot say how it is spread). `sample` draws Gaussian
vectors with that mean and covariance and normalises them. `check` compares pairwise
cosines of drawn templates with those of the real centres (the bench prints both).

Limits: a Gaussian fitted to 32 people, one photograph each; the tail of the spectrum
is a guess (even), so the fit reproduces the first two moments, not the real manifold.
"""

from __future__ import annotations

import functools
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fleet.watchlists.gallery import unit_rows

log = logging.getLogger(__name__)
F32 = npt.NDArray[np.float32]
#: Leading principal directions kept from the identity centres (of 31 non-zero ones).
KEPT = 16
CACHE = Path(tempfile.gettempdir()) / "oko-bench-faceres-distribution.npz"


@dataclass(frozen=True)
class FaceDistribution:
    """Mean, leading directions (KEPT, d) with their std devs, and the even rest."""

    mean: F32
    directions: F32
    scales: F32
    rest: float
    centres: F32  # the real identity centres it was fitted to (for `check`)

    @property
    def dimensions(self) -> int:
        return int(self.mean.shape[0])

    def sample(self, n: int, rng: np.random.Generator, block: int = 50_000) -> F32:
        """n unit templates, filled in blocks (no float64 temporary of n x d)."""
        out = np.empty((n, self.dimensions), np.float32)
        for start in range(0, n, block):
            m = min(block, n - start)
            x = rng.standard_normal((m, self.dimensions), dtype=np.float32) * self.rest
            x += (rng.standard_normal((m, len(self.scales)), dtype=np.float32) * self.scales) @ (
                self.directions
            )
            x += self.mean
            out[start : start + m] = unit_rows(x)
        return out

    def check(self, rng: np.random.Generator, n: int = 2000) -> str:
        """Pairwise cosine percentiles (p5/p50/p95) of real centres vs drawn templates."""

        def pcts(rows: F32) -> str:
            s = rows @ rows.T
            values = s[np.triu_indices(len(rows), 1)]
            return "/".join(f"{v:.2f}" for v in np.percentile(values, [5, 50, 95]))

        return (
            f"pairwise cosine p5/p50/p95: real {len(self.centres)} people {pcts(self.centres)}, "
            f"drawn {pcts(self.sample(n, rng))}, isotropic "
            f"{pcts(unit_rows(rng.standard_normal((n, self.dimensions), dtype=np.float32)))}"
        )


def fit(identities: list[str], vectors: F32) -> FaceDistribution:
    """The distribution of people's centres, from labelled unit embeddings."""
    names = sorted(set(identities))
    labels = np.array(identities)
    centres = unit_rows(np.stack([vectors[labels == who].mean(0) for who in names]))
    mean = centres.mean(0)
    _, singular, vt = np.linalg.svd(centres - mean, full_matrices=False)
    variances = singular**2 / (len(centres) - 1)
    kept = min(KEPT, len(centres) - 1)
    rest = float(variances[kept:].sum() / (len(mean) - kept))
    scales = np.sqrt(np.maximum(variances[:kept] - rest, 0.0))
    return FaceDistribution(
        mean.astype(np.float32),
        vt[:kept].astype(np.float32),
        scales.astype(np.float32),
        float(np.sqrt(rest)),
        centres.astype(np.float32),
    )


@functools.cache
def real_distribution(threads: int = 2) -> FaceDistribution:
    """Fitted to the real faces just embedded (bench.face_identity.collect, once a process)."""
    from bench.face_identity import collect

    samples, _ = collect(threads)
    return fit([s.identity for s in samples], np.stack([s.vector for s in samples]))


def load_or_fit(path: Path = CACHE, threads: int = 2) -> FaceDistribution:
    """The fitted distribution, cached in `path` (fitting runs the face chain, ~1 min)."""
    if path.exists():
        with np.load(path) as saved:
            return FaceDistribution(
                saved["mean"],
                saved["directions"],
                saved["scales"],
                float(saved["rest"]),
                saved["centres"],
            )
    log.info("embedding the real faces to fit the template distribution (cached in %s)", path)
    dist = real_distribution(threads)
    np.savez(
        path,
        mean=dist.mean,
        directions=dist.directions,
        scales=dist.scales,
        rest=dist.rest,
        centres=dist.centres,
    )
    return dist

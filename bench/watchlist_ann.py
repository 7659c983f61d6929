"""ANN candidates for 1:N search against exact float32 search: latency, recall@1, memory, build.

Run from the repository root:
``.venv/bin/python -m bench.watchlist_ann [--sizes 10000 100000 1000000] [--libs usearch faiss]``

Gallery: N random unit templates of FaceRes's dimension (1024): isotropic, the worst case
for a graph index (real embeddings of different people have cosine ~0.58, random ones ~0);
bench/watchlist_scale.py measures the fleet's index on templates drawn from the real
FaceRes distribution, up to 10^6. Probes of two kinds:

- *genuine*: a gallery template mixed with noise to cosine `--genuine-cos` (0.8: just above
  the shipped 0.75 threshold, the hardest case a real match can be) - recall@1 here is the
  share of real matches the index still finds;
- *random*: a random unit vector (a face of nobody enrolled; its exact top-1 is a
  near-tie among N templates at cosine ~0.1, far below any threshold), a worst case that
  says how exact the index is, not whether alerts are lost.

Columns: R@1 = the index's own first answer is the exact top-1; "gen in k" = the exact
top-1 of a genuine probe is among the k candidates, which is the fleet's recall (it
re-scores the candidates exactly, `fleet.watchlists.gallery`). Random isotropic templates
are the worst case for graph indices (every template is nearly equidistant from every
other; real face embeddings cluster), so recall here is a floor. Exact search is
`fleet.watchlists.gallery.Gallery` (the code the fleet runs).
Latency is one face per call, p50/p99 over the probes; build is single inserts in bulk,
on the machine's cores. Memory is the index's own structure (plus, for the fleet's ANN
path, the float32 rows it keeps for exact re-scoring: 4 KiB/template).
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.machine import describe
from fleet.watchlists.gallery import unit_rows

DIM = 1024
F32 = npt.NDArray[np.float32]
Search = Callable[[F32, int], npt.NDArray[np.int64]]


@dataclass
class Built:
    """An index ready to search: its search function and its measured cost."""

    search: Search  # (probes (m, d), k) -> row numbers (m, k), -1 = none
    build_s: float
    nbytes: int
    set_ef: Callable[[int], None] | None = None  # search depth, where it can change


def templates(n: int, rng: np.random.Generator) -> F32:
    """n random unit rows, filled in blocks (no float64 temporary of n x DIM)."""
    out = np.empty((n, DIM), np.float32)
    for start in range(0, n, 50_000):
        block = rng.standard_normal((min(50_000, n - start), DIM), dtype=np.float32)
        out[start : start + len(block)] = unit_rows(block)
    return out


def genuine_probes(matrix: F32, count: int, cos: float, rng: np.random.Generator) -> F32:
    """Gallery rows mixed with orthogonal-ish noise so that probe . row ~= cos."""
    rows = matrix[rng.integers(0, len(matrix), count)]
    noise = unit_rows(rng.standard_normal(rows.shape, dtype=np.float32))
    noise = unit_rows(noise - (noise * rows).sum(1, keepdims=True) * rows)
    return unit_rows(cos * rows + np.sqrt(1 - cos * cos) * noise)


def exact_top1(matrix: F32, probes: F32) -> npt.NDArray[np.int64]:
    """Ground truth: the best row per probe by one matrix product per block."""
    best = np.full(len(probes), -1, np.int64)
    score = np.full(len(probes), -np.inf, np.float32)
    for start in range(0, len(matrix), 100_000):
        s = matrix[start : start + 100_000] @ probes.T
        i = s.argmax(0)
        top = s[i, np.arange(len(probes))]
        better = top > score
        best[better], score[better] = i[better] + start, top[better]
    return best


def build_usearch(matrix: F32, threads: int, dtype: str = "f32") -> Built:
    from usearch.index import Index

    index = Index(
        ndim=DIM,
        metric="ip",
        dtype=dtype,
        connectivity=16,
        expansion_add=128,
        expansion_search=64,
    )
    started = time.perf_counter()
    index.add(np.arange(len(matrix), dtype=np.uint64), matrix, threads=threads)
    took = time.perf_counter() - started

    def search(probes: F32, k: int) -> npt.NDArray[np.int64]:
        found = index.search(probes, k, threads=1)
        keys = np.asarray(found.keys, np.int64).reshape(len(probes), -1)
        return keys

    def set_ef(ef: int) -> None:
        setattr(index, "expansion_search", ef)  # noqa: B010 (a setter the stubs omit)

    return Built(search, took, int(index.memory_usage), set_ef)


def build_faiss(matrix: F32, threads: int) -> Built:
    import faiss

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 128
    started = time.perf_counter()
    index.add(matrix)
    took = time.perf_counter() - started
    index.hnsw.efSearch = 64
    nbytes = len(faiss.serialize_index(index))

    def search(probes: F32, k: int) -> npt.NDArray[np.int64]:
        faiss.omp_set_num_threads(1)
        _, rows = index.search(probes, k)
        return np.asarray(rows, np.int64)

    def set_ef(ef: int) -> None:
        index.hnsw.efSearch = ef

    return Built(search, took, nbytes, set_ef)


def build_hnswlib(matrix: F32, threads: int) -> Built:
    import hnswlib

    index = hnswlib.Index(space="ip", dim=DIM)
    index.init_index(max_elements=len(matrix), M=16, ef_construction=128)
    started = time.perf_counter()
    index.add_items(matrix, np.arange(len(matrix)), num_threads=threads)
    took = time.perf_counter() - started
    index.set_ef(64)
    # hnswlib keeps the f32 rows plus M*2 links per node on layer 0 (no size query).
    nbytes = len(matrix) * (DIM * 4 + 16 * 2 * 4 + 16)

    def search(probes: F32, k: int) -> npt.NDArray[np.int64]:
        rows, _ = index.knn_query(probes, k=k, num_threads=1)
        return np.asarray(rows, np.int64)

    return Built(search, took, nbytes)


BUILDERS: dict[str, Callable[[F32, int], Built]] = {
    "usearch": build_usearch,
    "usearch-f16": lambda m, t: build_usearch(m, t, "f16"),
    "faiss": build_faiss,
    "hnswlib": build_hnswlib,
}


def latency_ms(fn: Callable[[F32], Any], probes: F32) -> tuple[float, float]:
    """p50/p99 of one probe per call."""
    fn(probes[:1])
    times = []
    for i in range(len(probes)):
        started = time.perf_counter()
        fn(probes[i : i + 1])
        times.append(time.perf_counter() - started)
    p50, p99 = np.percentile(np.array(times) * 1e3, [50, 99])
    return float(p50), float(p99)


def exact_row(matrix: F32, probes: F32) -> str:
    from bench.watchlist import exact_gallery

    gallery = exact_gallery(matrix)
    p50, p99 = latency_ms(lambda q: gallery.search(q[0], "site", 0), probes)
    per = matrix.nbytes / len(matrix)
    ones = f"{1.0:>8.3f} " * 3
    return f"{'exact':12s} {0.0:>8.1f} {p50:>8.2f} {p99:>8.2f} {ones}{per:>8.0f}"


def ann_rows(
    name: str, matrix: F32, probes: dict[str, F32], truth: dict[str, Any], *, k: int, efs: list[int]
) -> list[str]:
    """One row per search depth (`efs`; the default depth only if it cannot change)."""
    try:
        built = BUILDERS[name](matrix, os.cpu_count() or 1)
    except ImportError as err:
        return [f"{name:12s} not installed ({err})"]
    rows = []
    for ef in efs if built.set_ef else [0]:
        if built.set_ef:
            built.set_ef(ef)
        label = f"{name}/{ef}" if ef else name
        rows.append(_row(label, built, probes, truth, k=k, n=len(matrix)))
    return rows


def _row(
    label: str, built: Built, probes: dict[str, F32], truth: dict[str, Any], *, k: int, n: int
) -> str:
    found = {kind: built.search(p, k) for kind, p in probes.items()}
    recall = {kind: float((f[:, 0] == truth[kind]).mean()) for kind, f in found.items()}
    # What the fleet gets: candidates are re-scored exactly, so the exact top-1 is found
    # whenever it is anywhere among the k candidates.
    within = float((found["genuine"] == truth["genuine"][:, None]).any(axis=1).mean())
    p50, p99 = latency_ms(lambda q: built.search(q, k), probes["genuine"])
    return (
        f"{label:12s} {built.build_s:>8.1f} {p50:>8.2f} {p99:>8.2f} "
        f"{recall['genuine']:>8.3f} {recall['random']:>8.3f} {within:>8.3f} "
        f"{built.nbytes / n:>8.0f}"
    )


def run(
    sizes: list[int], libs: list[str], count: int, cos: float, *, k: int, efs: list[int]
) -> None:
    rng = np.random.default_rng(11)
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.1f}")
    print(
        f"{count} genuine probes (cosine {cos} to one template) + {count} random probes; "
        f"ANN asked for {k} candidates; build on {os.cpu_count()} threads, search on 1"
    )
    for n in sizes:
        matrix = templates(n, rng)
        probes = {
            "genuine": genuine_probes(matrix, count, cos, rng),
            "random": unit_rows(rng.standard_normal((count, DIM), dtype=np.float32)),
        }
        truth = {kind: exact_top1(matrix, p) for kind, p in probes.items()}
        print(f"\n{n} templates of {DIM}-d; load average {os.getloadavg()[0]:.1f}")
        heads = (
            "index",
            "build s",
            "p50 ms",
            "p99 ms",
            "R@1 gen",
            "R@1 rnd",
            "gen in k",
            "B/templ",
        )
        print(f"{heads[0]:12s} " + " ".join(f"{h:>8s}" for h in heads[1:]))
        print(exact_row(matrix, probes["genuine"]), flush=True)
        for name in libs:
            for line in ann_rows(name, matrix, probes, truth, k=k, efs=efs):
                print(line, flush=True)
            gc.collect()
        del matrix
        gc.collect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--libs", nargs="+", default=list(BUILDERS), choices=list(BUILDERS))
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--genuine-cos", type=float, default=0.8)
    parser.add_argument(
        "--candidates", type=int, default=64, help="k asked of the index (fleet default 64)"
    )
    parser.add_argument(
        "--ef", type=int, nargs="+", default=[64], help="search depths to try on each index"
    )
    args = parser.parse_args()
    run(args.sizes, args.libs, args.probes, args.genuine_cos, k=args.candidates, efs=args.ef)


if __name__ == "__main__":
    main()

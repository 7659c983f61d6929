"""The fleet's ANN index grown to 10^6 face templates: latency, recall@1, memory, save/load.

Run from the repository root (long: a progress bar shows the build):
``nice -n 10 .venv/bin/python -m bench.watchlist_scale [--sizes 10000 100000 1000000]``

One index (`fleet.watchlists.ann.AnnIndex`, the class the fleet runs, float16 rows,
inner product) is grown by inserts of 10^4 templates to the largest size and measured
each time it reaches one of `--sizes`, so that 10^4, 10^5 and 10^6 come out of one
build and a run stopped early still has its smaller sizes.

Templates: drawn from the distribution of real FaceRes embeddings
(`bench.face_templates`: mean and leading directions of 32 real people's embeddings);
`--isotropic` gives random unit vectors instead (the worst case, bench/watchlist_ann.py).
Probes, per size: *genuine* = a template of the index mixed with noise to cosine
`--genuine-cos` (0.8, just above the shipped 0.75 threshold), *stranger* = a new person
drawn from the same distribution (enrolled nowhere). Truth = exact top-1 by float32
products over the same rows, in blocks (no 4 GB temporary). Columns: R@1 = the index's
first answer is the exact top-1; "gen in k" = the genuine template is among the k
candidates, which is what the fleet finds (it re-scores candidates exactly). Latency:
one face per call, one thread, p50/p99. Exact = `fleet.watchlists.gallery.Gallery`.
Memory: the process's resident set growth while the index grows, per template (the
float32 rows the bench holds are allocated before); the index's own `memory_usage`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from bench.face_templates import load_or_fit
from bench.machine import describe
from bench.watchlist_ann import exact_top1, genuine_probes
from fleet.watchlists.ann import AnnIndex
from fleet.watchlists.gallery import unit_rows

F32 = npt.NDArray[np.float32]
CHUNK = 10_000


def rss_bytes() -> int:
    """Resident set size of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


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


def measure(
    index: AnnIndex, matrix: F32, stranger: F32, args: argparse.Namespace, rng: np.random.Generator
) -> None:
    """Print the rows for the index as it is now (over `matrix`, the rows it holds)."""
    from bench.watchlist import exact_gallery

    n = len(matrix)
    genuine = genuine_probes(matrix, args.probes, args.genuine_cos, rng)
    truth = {"gen": exact_top1(matrix, genuine), "str": exact_top1(matrix, stranger)}
    gallery = exact_gallery(matrix)
    probes = genuine[: args.exact_probes]
    p50, p99 = latency_ms(lambda q: gallery.search(q[0], "site", 0), probes)
    load = os.getloadavg()[0]
    ones = f"{1:>8.3f} " * 3
    print(f"{n:>9} {'exact':>10} {p50:>9.2f} {p99:>9.2f} {ones} load {load:.1f}")
    for ef in args.ef:
        index.search_depth = ef
        found = {
            kind: index.search(p, args.candidates)
            for kind, p in (("gen", genuine), ("str", stranger))
        }
        r1 = {kind: float((f[:, 0] == truth[kind]).mean()) for kind, f in found.items()}
        within = float((found["gen"] == truth["gen"][:, None]).any(axis=1).mean())
        p50, p99 = latency_ms(lambda q: index.search(q, args.candidates), genuine)
        print(
            f"{n:>9} {'usearch/' + str(ef):>10} {p50:>9.2f} {p99:>9.2f} "
            f"{r1['gen']:>8.3f} {r1['str']:>8.3f} {within:>8.3f}",
            flush=True,
        )


def grow(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(11)
    dist = load_or_fit()
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.1f}")
    if args.isotropic:
        print("templates: random isotropic unit vectors (worst case)")
    else:
        print(f"templates: real-FaceRes distribution; {dist.check(rng)}")
    top = max(args.sizes)
    before = rss_bytes()
    matrix = (
        unit_rows(rng.standard_normal((top, dist.dimensions), dtype=np.float32))
        if args.isotropic
        else dist.sample(top, rng)
    )
    stranger = dist.sample(args.probes, rng)
    print(
        f"{top} x {dist.dimensions} float32 rows: {(rss_bytes() - before) / 2**20:.0f} MiB resident"
    )
    index = AnnIndex(
        dist.dimensions,
        args.threads,
        connectivity=args.connectivity,
        expansion_add=args.expansion_add,
    )
    print(
        f"index: float16, connectivity {args.connectivity}, expansion_add {args.expansion_add}, "
        f"add on {args.threads} threads; search 1 thread, k = {args.candidates}, "
        f"{args.probes} genuine (cos {args.genuine_cos}) + {args.probes} stranger probes"
    )
    heads = ("templates", "search", "p50 ms", "p99 ms", "R@1 gen", "R@1 str", "gen in k")
    print(" ".join(f"{h:>9}" for h in heads))
    base, built_s, cpu_s = rss_bytes(), 0.0, 0.0
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("building", total=top)
        for start in range(0, top, CHUNK):
            end = min(start + CHUNK, top)
            started, cpu = time.perf_counter(), time.process_time()
            index.add(np.arange(start, end, dtype=np.uint64), matrix[start:end])
            built_s += time.perf_counter() - started
            cpu_s += time.process_time() - cpu
            bar.update(task, completed=end)
            if end in args.sizes:
                grown = rss_bytes() - base
                print(
                    f"{end:>9} built in {built_s:.0f} s ({built_s / end * 1e3:.2f} ms/template), "
                    f"{cpu_s:.0f} s of CPU ({cpu_s / end * 1e3:.2f} ms/template); "
                    f"memory {grown / end:.0f} B/template resident, "
                    f"{index.nbytes / end:.0f} B/template usearch; load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
                measure(index, matrix[:end], stranger, args, rng)
    persist(index, matrix, args)


def persist(index: AnnIndex, matrix: F32, args: argparse.Namespace) -> None:
    """Save, reload and search the reloaded index: what a fleet restart costs instead of a build."""
    with tempfile.TemporaryDirectory(dir=args.save_dir) as tmp:
        path = Path(tmp) / "gallery.usearch"
        started = time.perf_counter()
        index.save(path)
        saved_s = time.perf_counter() - started
        size = path.stat().st_size
        again = AnnIndex(matrix.shape[1], search_depth=args.ef[-1])
        started = time.perf_counter()
        again.load(path)
        loaded_s = time.perf_counter() - started
        probe = matrix[:1]
        same = bool((again.search(probe, 8) == index.search(probe, 8)).all())
    print(
        f"save {saved_s:.1f} s, {size / 2**20:.0f} MiB on disk "
        f"({size / len(matrix):.0f} B/template); "
        f"load {loaded_s:.1f} s; reloaded index answers the same: {same}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--exact-probes", type=int, default=50, help="probes timed on exact search")
    parser.add_argument("--genuine-cos", type=float, default=0.8)
    parser.add_argument("--candidates", type=int, default=64, help="k (fleet default 64)")
    parser.add_argument("--ef", type=int, nargs="+", default=[128, 1024], help="search depths")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--connectivity", type=int, default=16)
    parser.add_argument("--expansion-add", type=int, default=128)
    parser.add_argument("--isotropic", action="store_true")
    parser.add_argument("--save-dir", default=None, help="where the index is saved and reloaded")
    args = parser.parse_args()
    args.sizes = sorted(s for s in args.sizes if s % CHUNK == 0) or [CHUNK]
    grow(args)


if __name__ == "__main__":
    main()

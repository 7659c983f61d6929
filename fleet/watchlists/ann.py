"""Approximate nearest-neighbour candidates for large galleries: usearch HNSW, the adapter.

Why usearch (bench/watchlist_ann.py, docs/watchlists.md has the figures): Apache-2.0,
binary wheels for every platform the fleet runs on and a release every few weeks; on
1024-d templates (10^4) its recall for real matches equals faiss's and hnswlib's, its
latency is within their noise, and of the three only usearch both deletes entries (a
removed subject leaves the graph, not just a mask) and stores vectors as float16 (half
the memory of faiss's or hnswlib's float32 copy). hnswlib ships no wheel for our Python
and has had no release since 2023; faiss's HNSW cannot delete. Any HNSW needs a deep
search on 1024-d templates: with depth 64 it found only 77 % of matches among 5x10^4
random templates (60 % at 10^5); at 10^5 depth 512 found 99 %, 1024 all; hence the
depth setting (default 1024).

The index only proposes candidates. `Gallery` re-scores them exactly against its float32
rows and applies the same masks (site, expiry, threshold, top-k) as exact search, and a
template that is not in the current gallery generation is dropped whatever the index
still holds: correctness never rests on the index being up to date.

usearch is an optional dependency (`pip install oko-vision[ann]`); without it every
gallery is searched exactly, whatever its size, and the fleet logs that once.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fleet.errors import FleetError

log = logging.getLogger(__name__)
F32 = npt.NDArray[np.float32]
Keys = npt.NDArray[np.uint64]
#: HNSW links per node and insert depth; the search depth is `AnnPolicy.search_depth`
#: (watchlists.ann_search_depth). Measured in bench/watchlist_ann.py.
CONNECTIVITY = 16
EXPANSION_ADD = 128


class AnnError(FleetError):
    """The ANN library failed; the gallery falls back to exact search."""


def available() -> bool:
    """Whether usearch is installed (the `ann` extra)."""
    return importlib.util.find_spec("usearch") is not None


class AnnIndex:
    """An HNSW index of unit rows under stable uint64 keys, inner-product metric.

    Not thread-safe: the matcher mutates and searches it from its one search thread; a
    new index is built on another thread and handed over only when complete.
    """

    def __init__(
        self,
        dimensions: int,
        threads: int = 1,
        search_depth: int = 1024,
        *,
        connectivity: int = CONNECTIVITY,
        expansion_add: int = EXPANSION_ADD,
    ) -> None:
        """An empty index for `dimensions`-d rows; `threads` used by `add`.

        `connectivity` and `expansion_add` are for bench/watchlist_scale.py, which
        measures what cheaper builds cost in recall; the fleet uses the defaults.
        """
        try:
            from usearch.index import Index
        except ImportError as err:
            raise AnnError(f"usearch is not installed: {err}") from err
        self.dimensions = dimensions
        self.threads = threads
        self._index = Index(
            ndim=dimensions,
            metric="ip",
            dtype="f16",
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=search_depth,
        )

    def __len__(self) -> int:
        return len(self._index)

    @property
    def search_depth(self) -> int:
        """Candidates explored per search (`expansion_search`)."""
        return int(self._index.expansion_search)

    @search_depth.setter
    def search_depth(self, depth: int) -> None:
        setattr(self._index, "expansion_search", depth)  # noqa: B010 (a setter the stubs omit)

    @property
    def nbytes(self) -> int:
        """Memory held by the index (graph and its float16 copy of the rows)."""
        return int(self._index.memory_usage)

    def add(self, keys: Sequence[int] | Keys, vectors: F32) -> None:
        """Insert rows under new keys (a key already present is an AnnError)."""
        if not len(keys):
            return
        try:
            self._index.add(np.asarray(keys, np.uint64), vectors, threads=self.threads)
        except (RuntimeError, ValueError) as err:
            raise AnnError(f"ANN index add failed: {err}") from err

    def remove(self, keys: Sequence[int] | Keys) -> None:
        """Delete rows by key; unknown keys are ignored."""
        if not len(keys):
            return
        try:
            self._index.remove(np.asarray(keys, np.uint64))
        except (RuntimeError, ValueError) as err:
            raise AnnError(f"ANN index remove failed: {err}") from err

    def search(self, vectors: F32, k: int) -> npt.NDArray[np.int64]:
        """The `k` best keys per row of `vectors` (m, k); -1 where fewer were found."""
        try:
            found = self._index.search(vectors, k, threads=1)
        except (RuntimeError, ValueError) as err:
            raise AnnError(f"ANN index search failed: {err}") from err
        counts = np.asarray(getattr(found, "counts", [len(found)]), np.int64)
        keys = np.asarray(found.keys, np.int64).reshape(len(vectors), -1)
        counts = counts.reshape(len(vectors), 1)
        keys[np.arange(keys.shape[1])[None] >= counts] = -1
        return keys

    def save(self, path: Path) -> None:
        """Write the index to `path` (graph and float16 rows; ~2.5 KiB a template at 1024-d)."""
        try:
            self._index.save(str(path))
        except (RuntimeError, ValueError, OSError) as err:
            raise AnnError(f"ANN index save to {path} failed: {err}") from err

    def load(self, path: Path) -> None:
        """Replace this index's contents with the one saved in `path` (same dimensions).

        Seconds at 10^6 templates where a rebuild takes tens of minutes
        (docs/benchmarks.md "Watchlists"); a file of other dimensions or metric is an
        AnnError, and the caller rebuilds.
        """
        try:
            self._index.load(str(path))
        except (RuntimeError, ValueError, OSError) as err:
            raise AnnError(f"ANN index load from {path} failed: {err}") from err
        if self._index.ndim != self.dimensions:
            raise AnnError(f"{path}: index of {self._index.ndim}-d rows, not {self.dimensions}")

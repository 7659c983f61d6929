"""1:N search: every template of one embedder in one float32 matrix, exact cosine search.

Exact search is a single matrix-vector product over L2-normalised rows; bench/watchlist.py
measures it at 10^4-10^6 templates (the numbers decide whether an ANN index is needed).
Eligibility (watchlist site, subject expiry) and per-watchlist thresholds are masks over
the same rows, so a search is a handful of vector operations whatever the gallery size;
Python loops run only over the few templates above threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleet.watchlists.records import EmbedderKey, GalleryRow, WatchlistRecord

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Match:
    """One subject a face matched, with its best template's similarity."""

    watchlist: WatchlistRecord
    subject_id: str
    subject_name: str
    score: float


def unit_rows(vectors: npt.ArrayLike) -> F32:
    """Rows scaled to unit length (zero rows stay zero, so they match nothing)."""
    v = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    out: F32 = (v / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


class Gallery:
    """Every template of one embedder version; immutable once built (rebuilt on change)."""

    def __init__(
        self,
        key: EmbedderKey,
        matrix: F32,
        *,
        watchlists: Sequence[WatchlistRecord],
        watchlist_of: npt.NDArray[np.int64],
        expires_us: npt.NDArray[np.int64],
        subjects: Sequence[tuple[str, str]],
    ) -> None:
        """Parallel per-template arrays: unit rows, watchlist index, expiry, (id, name)."""
        n = len(matrix)
        if not n or not len(watchlist_of) == len(expires_us) == len(subjects) == n:
            raise ValueError(f"gallery {key}: empty or ragged template arrays")
        self.key = key
        self.dimensions = int(matrix.shape[1])
        self.matrix = matrix
        self.watchlists = list(watchlists)
        self._watchlist_of = watchlist_of
        self._thresholds = np.array([w.threshold for w in self.watchlists], np.float32)
        self._expires = expires_us
        self._subjects = list(subjects)

    @classmethod
    def of_rows(cls, key: EmbedderKey, rows: Sequence[GalleryRow]) -> Gallery:
        """A gallery from the store's template rows (all of embedder `key`)."""
        dims = {r.template.dimensions for r in rows}
        if len(dims) != 1:
            raise ValueError(f"gallery {key}: templates of dimensions {sorted(dims)}")
        watchlists = sorted({r.watchlist for r in rows}, key=lambda w: w.name)
        index = {w.name: i for i, w in enumerate(watchlists)}
        return cls(
            key,
            unit_rows(np.stack([np.frombuffer(r.template.vector, "<f4") for r in rows])),
            watchlists=watchlists,
            watchlist_of=np.array([index[r.watchlist.name] for r in rows], np.int64),
            expires_us=np.array([r.expires_us for r in rows], np.int64),
            subjects=[(r.template.subject_id, r.subject_name) for r in rows],
        )

    def __len__(self) -> int:
        return len(self._subjects)

    def search(self, vector: F32, site: str, now_us: int) -> list[Match]:
        """Subjects whose best template reaches their watchlist's threshold, best first.

        At most `top_k` per watchlist; only watchlists of `site` (or of every site) and
        subjects not expired at `now_us` take part.
        """
        return self.search_many(vector[None], [site], now_us)[0]

    def search_many(self, vectors: F32, sites: Sequence[str], now_us: int) -> list[list[Match]]:
        """`search` for several faces at once: one matrix product for all of them.

        Exact search is bound by reading the gallery from memory, so searching m faces in
        one product costs little more than searching one (bench/watchlist.py measures it).
        """
        scores = self.matrix @ vectors.T  # (templates, faces)
        alive = (self._expires == 0) | (self._expires > now_us)
        above = scores >= self._thresholds[self._watchlist_of][:, None]
        out = []
        for column, site in enumerate(sites):
            site_ok = np.array([w.site in ("", site) for w in self.watchlists], bool)
            hits = np.flatnonzero(above[:, column] & alive & site_ok[self._watchlist_of])
            out.append(self._best(hits, scores[:, column]) if hits.size else [])
        return out

    def _best(self, hits: npt.NDArray[np.intp], scores: F32) -> list[Match]:
        """Best template per subject among `hits`, best first, `top_k` per watchlist."""
        matches: list[Match] = []
        seen: set[str] = set()
        taken = np.zeros(len(self.watchlists), np.int64)
        for row in hits[np.argsort(-scores[hits], kind="stable")].tolist():
            subject_id, name = self._subjects[row]
            w = int(self._watchlist_of[row])
            if subject_id in seen or taken[w] >= self.watchlists[w].top_k:
                continue
            seen.add(subject_id)
            taken[w] += 1
            matches.append(Match(self.watchlists[w], subject_id, name, float(scores[row])))
        return matches


def build_galleries(rows: Sequence[GalleryRow]) -> dict[EmbedderKey, Gallery]:
    """One gallery per embedder (name, version) present among the templates."""
    by_key: dict[EmbedderKey, list[GalleryRow]] = {}
    for row in rows:
        by_key.setdefault(row.template.embedder, []).append(row)
    return {key: Gallery.of_rows(key, group) for key, group in by_key.items()}


def decode_embedding(data: bytes, dimensions: int, int8: bool) -> F32:
    """A face event's embedding bytes (float16 or int8, see events.proto) -> unit float32."""
    dtype = np.int8 if int8 else np.dtype("<f2")
    values = np.frombuffer(data, dtype)
    if values.size != dimensions:
        raise ValueError(f"embedding has {values.size} values, expected {dimensions}")
    out: F32 = unit_rows(values.astype(np.float32)[None])[0]
    return out

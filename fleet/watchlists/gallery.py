"""1:N search: every template of one embedder in one float32 matrix, exact or ANN-assisted.

Exact search is a single matrix-vector product over L2-normalised rows; bench/watchlist.py
measures it at 10^4-10^6 templates. Above a configurable size (`watchlists.ann_min_templates`)
a gallery also gets an HNSW index (`fleet.watchlists.ann`) that proposes candidates, which
are re-scored exactly here: both paths apply the same masks, so eligibility (watchlist
site, subject expiry at the moment of the search) and per-watchlist thresholds and top-k
mean the same whichever path ran. A template absent from this gallery generation (its
subject was removed) is never a candidate, whatever the index still holds.
Python loops run only over the few templates above threshold.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleet.watchlists import floors
from fleet.watchlists.ann import AnnError, AnnIndex
from fleet.watchlists.records import EmbedderKey, GalleryRow, WatchlistRecord

log = logging.getLogger(__name__)
F32 = npt.NDArray[np.float32]
Rows = npt.NDArray[np.intp]
#: A template's identity across gallery generations: (subject id, photo index).
Identity = tuple[str, int]


@dataclass(frozen=True)
class AnnView:
    """An ANN index as one gallery generation sees it.

    `row_of_key[key]` is the row of this generation holding the template the index
    stores under `key`, or -1 (removed since): the index may hold more than the gallery.
    """

    index: AnnIndex
    row_of_key: npt.NDArray[np.int64]
    candidates: int


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
    """Every template of one embedder version; immutable once built (rebuilt on change).

    `ann` (optional) makes searches ANN-assisted; the index it views is shared with the
    next generations of the same embedder and updated by `fleet.watchlists.galleries`.
    """

    def __init__(
        self,
        key: EmbedderKey,
        matrix: F32,
        *,
        watchlists: Sequence[WatchlistRecord],
        watchlist_of: npt.NDArray[np.int64],
        expires_us: npt.NDArray[np.int64],
        subjects: Sequence[tuple[str, str]],
        photo_index: Sequence[int] | None = None,
        ann: AnnView | None = None,
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
        # Never below what the embedder itself calls the same person (fleet/watchlists/floors.py).
        asked = np.array([w.threshold for w in self.watchlists], np.float32)
        self._thresholds = np.maximum(asked, np.float32(floors.floor(key)))
        self._expires = expires_us
        self._subjects = list(subjects)
        photos = photo_index if photo_index is not None else [0] * n
        self.identities: list[Identity] = [(s[0], p) for s, p in zip(subjects, photos, strict=True)]
        self.ann = ann

    def with_ann(self, ann: AnnView | None) -> Gallery:
        """The same templates, searched through `ann` (None: exactly)."""
        out = object.__new__(Gallery)
        out.__dict__.update(self.__dict__)
        out.ann = ann
        return out

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
            photo_index=[r.template.photo_index for r in rows],
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
        With an ANN index only its candidates are scored; if the index fails, exactly.
        """
        if self.ann is not None:
            try:
                return self._search_ann(self.ann, vectors, sites, now_us)
            except AnnError as err:
                log.error("gallery %s: %s; searching exactly", self.key, err)
        scores = self.matrix @ vectors.T  # (templates, faces)
        every = np.arange(len(self), dtype=np.intp)
        return [
            self._matches(every, scores[:, column], site, now_us)
            for column, site in enumerate(sites)
        ]

    def _search_ann(
        self, ann: AnnView, vectors: F32, sites: Sequence[str], now_us: int
    ) -> list[list[Match]]:
        """Candidates from the index, re-scored exactly, through the same masks."""
        keys = ann.index.search(vectors, ann.candidates)
        known = (keys >= 0) & (keys < len(ann.row_of_key))
        rows = np.where(known, ann.row_of_key[np.where(known, keys, 0)], -1)
        out = []
        for column, site in enumerate(sites):
            candidates = np.unique(rows[column][rows[column] >= 0]).astype(np.intp)
            scores = self.matrix[candidates] @ vectors[column]
            out.append(self._matches(candidates, scores, site, now_us))
        return out

    def _matches(self, rows: Rows, scores: F32, site: str, now_us: int) -> list[Match]:
        """Subjects among `rows` (with their `scores`) that pass every mask, best first."""
        watchlist = self._watchlist_of[rows]
        expires = self._expires[rows]
        site_ok = np.array([w.site in ("", site) for w in self.watchlists], bool)
        keep = (
            (scores >= self._thresholds[watchlist])
            & ((expires == 0) | (expires > now_us))
            & site_ok[watchlist]
        )
        return self._best(rows[keep], scores[keep]) if keep.any() else []

    def _best(self, rows: Rows, scores: F32) -> list[Match]:
        """Best template per subject among `rows`, best first, `top_k` per watchlist."""
        matches: list[Match] = []
        seen: set[str] = set()
        taken = np.zeros(len(self.watchlists), np.int64)
        order = np.argsort(-scores, kind="stable")
        for row, score in zip(rows[order].tolist(), scores[order].tolist(), strict=True):
            subject_id, name = self._subjects[row]
            w = int(self._watchlist_of[row])
            if subject_id in seen or taken[w] >= self.watchlists[w].top_k:
                continue
            seen.add(subject_id)
            taken[w] += 1
            matches.append(Match(self.watchlists[w], subject_id, name, float(score)))
        return matches


def decode_embedding(data: bytes, dimensions: int, int8: bool) -> F32:
    """A face event's embedding bytes (float16 or int8, see events.proto) -> unit float32."""
    dtype = np.int8 if int8 else np.dtype("<f2")
    values = np.frombuffer(data, dtype)
    if values.size != dimensions:
        raise ValueError(f"embedding has {values.size} values, expected {dimensions}")
    out: F32 = unit_rows(values.astype(np.float32)[None])[0]
    return out

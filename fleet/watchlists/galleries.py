"""Gallery generations per embedder, and the ANN index each large one keeps across them.

Every watchlist or subject change makes a new generation of galleries from the store's
rows (`GalleryBuilder.build`, on the matcher's search thread). A gallery below
`AnnPolicy.min_templates` is searched exactly. Above it, its embedder's `AnnSlot` (an
HNSW index plus the keys it holds) is brought up to date with the rows: templates gone
since the last generation are deleted from the index, new ones added. That is a handful
of rows per enrolment or removal, milliseconds. A gallery that has no index yet, or whose
change is too large to apply at once (more than `max_sync_adds` new templates), is
searched exactly and listed in `wanted`; the matcher builds its index on another thread
(`build_slot`; minutes at 10^6 templates) and installs it with `install`, after which the
next generation applies what changed during the build.

Removal and expiry never wait for the index: a template not in the current rows maps to
no row (`AnnView.row_of_key`), and expiry is a mask at search time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fleet.watchlists import ann
from fleet.watchlists.ann import AnnError, AnnIndex
from fleet.watchlists.gallery import AnnView, Gallery, Identity
from fleet.watchlists.records import EmbedderKey, GalleryRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnnPolicy:
    """When galleries get an ANN index and how it is searched (`WatchlistSettings`)."""

    min_templates: int = 200_000
    candidates: int = 64
    build_threads: int = 1
    search_depth: int = 1024
    max_sync_adds: int = 2_000
    #: Where built indexes are saved and loaded at start (fleet.watchlists.ann_files);
    #: None: rebuilt at every start.
    index_dir: Path | None = None


@dataclass
class AnnSlot:
    """One embedder's index across generations: which template each key holds."""

    index: AnnIndex
    key_of: dict[Identity, int] = field(default_factory=dict)
    next_key: int = 0


#: Rows inserted per call while building, between which a stop request is honoured.
BUILD_CHUNK = 10_000


def build_slot(gallery: Gallery, policy: AnnPolicy, stop: threading.Event) -> AnnSlot:
    """A new index over every template of `gallery` (slow: run it off the search thread).

    Inserts in chunks of BUILD_CHUNK so that a stopping server is not held for minutes;
    `stop` set -> AnnError.
    """
    index = AnnIndex(gallery.dimensions, policy.build_threads, policy.search_depth)
    for start in range(0, len(gallery), BUILD_CHUNK):
        if stop.is_set():
            raise AnnError("index build stopped")
        end = min(start + BUILD_CHUNK, len(gallery))
        index.add(np.arange(start, end, dtype=np.uint64), gallery.matrix[start:end])
        if len(gallery) > BUILD_CHUNK:
            log.info("gallery %s: ANN index %d/%d templates", gallery.key, end, len(gallery))
    keys = {identity: i for i, identity in enumerate(gallery.identities)}
    return AnnSlot(index, keys, len(gallery))


class GalleryBuilder:
    """Makes gallery generations; owns the embedders' ANN slots between them."""

    def __init__(self, policy: AnnPolicy) -> None:
        self.policy = policy
        self._slots: dict[EmbedderKey, AnnSlot] = {}
        #: Embedders whose gallery wants an index it does not have (the matcher builds it).
        self.wanted: set[EmbedderKey] = set()
        self._warned = False

    def ann_templates(self, key: EmbedderKey) -> int:
        """Entries in `key`'s index (0 without one)."""
        slot = self._slots.get(key)
        return len(slot.index) if slot else 0

    def install(self, key: EmbedderKey, slot: AnnSlot) -> None:
        """Hand over an index built by `build_slot`; the next `build` brings it up to date."""
        self._slots[key] = slot

    def build(self, rows: Sequence[GalleryRow]) -> dict[EmbedderKey, Gallery]:
        """One gallery per embedder present among `rows`, with its index where it has one."""
        by_key: dict[EmbedderKey, list[GalleryRow]] = {}
        for row in rows:
            by_key.setdefault(row.template.embedder, []).append(row)
        galleries = {key: Gallery.of_rows(key, group) for key, group in by_key.items()}
        self.wanted = set()
        for key in list(self._slots):
            if len(galleries.get(key, ())) < self.policy.min_templates:
                del self._slots[key]  # small again (or gone): exact, index freed
        for key, gallery in galleries.items():
            if len(gallery) >= self.policy.min_templates and self._usable():
                galleries[key] = gallery.with_ann(self._view(key, gallery))
        return galleries

    def _usable(self) -> bool:
        if ann.available():
            return True
        if not self._warned:
            log.warning("usearch is not installed (extra 'ann'): large galleries are exact")
            self._warned = True
        return False

    def _view(self, key: EmbedderKey, gallery: Gallery) -> AnnView | None:
        """`key`'s slot updated to `gallery`'s rows, as this generation sees it; or None."""
        slot = self._slots.get(key)
        if slot is None:
            self.wanted.add(key)
            return None
        present = set(gallery.identities)
        gone = [k for identity, k in slot.key_of.items() if identity not in present]
        new = [i for i, identity in enumerate(gallery.identities) if identity not in slot.key_of]
        if len(new) > self.policy.max_sync_adds:
            log.info("gallery %s: %d new templates, rebuilding its index", key, len(new))
            del self._slots[key]
            self.wanted.add(key)
            return None
        try:
            self._apply(slot, gallery, gone, new)
        except AnnError as err:
            log.error("gallery %s: %s; rebuilding its index, exact until then", key, err)
            del self._slots[key]
            self.wanted.add(key)
            return None
        row_of_key = np.full(slot.next_key, -1, np.int64)
        for row, identity in enumerate(gallery.identities):
            row_of_key[slot.key_of[identity]] = row
        return AnnView(slot.index, row_of_key, self.policy.candidates)

    @staticmethod
    def _apply(slot: AnnSlot, gallery: Gallery, gone: list[int], new: list[int]) -> None:
        """Delete the keys of removed templates, insert the new rows under fresh keys."""
        if gone:
            slot.index.remove(gone)
            gone_set = set(gone)
            slot.key_of = {i: k for i, k in slot.key_of.items() if k not in gone_set}
        if new:
            keys = np.arange(slot.next_key, slot.next_key + len(new), dtype=np.uint64)
            slot.index.add(keys, gallery.matrix[np.array(new, np.intp)])
            for row, key in zip(new, keys.tolist(), strict=True):
                slot.key_of[gallery.identities[row]] = key
            slot.next_key += len(new)

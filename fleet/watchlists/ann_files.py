"""ANN indexes kept on disk between fleet runs, so that a restart does not rebuild them.

Building the HNSW index of 10^6 1024-d templates takes tens of minutes on 2 cores, and
the gallery is searched exactly (seconds per face at that size) until it is done;
loading the saved index takes seconds (docs/benchmarks.md "Watchlists"). After each
build the matcher saves the index with the identity each key holds; at start it loads
that instead of building. The saved index need not match the current gallery: the
gallery builder's usual update (fleet.watchlists.galleries) deletes the keys of
templates removed since and inserts the new ones, or rebuilds when too much changed;
and every candidate is re-scored against the current rows, so a stale file can cost
recall, never a wrong match.

Files, per embedder version, in `directory`: `<name>@<version>.usearch` (usearch's own
format) and `<name>@<version>.keys.npz` (subject ids, photo indexes, keys, next key,
entry count), each written to a temporary name and renamed, keys last: a keys file
always describes a complete index file. A file that cannot be read, or whose entry
count disagrees with the index, is ignored (logged) and the index is rebuilt.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path

import numpy as np

from fleet.watchlists.ann import AnnError, AnnIndex
from fleet.watchlists.galleries import AnnPolicy, AnnSlot, build_slot
from fleet.watchlists.gallery import Gallery
from fleet.watchlists.records import EmbedderKey

log = logging.getLogger(__name__)


def _paths(directory: Path, key: EmbedderKey) -> tuple[Path, Path]:
    """(index file, keys file): names safe for any embedder name/version."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", f"{key.name}@{key.version}")
    return directory / f"{safe}.usearch", directory / f"{safe}.keys.npz"


def save_slot(directory: Path, key: EmbedderKey, slot: AnnSlot) -> None:
    """Write `slot` for `key` (AnnError if the disk refuses; the fleet carries on)."""
    index_path, keys_path = _paths(directory, key)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        index_tmp = index_path.with_name(index_path.name + ".tmp")
        slot.index.save(index_tmp)
        os.replace(index_tmp, index_path)
        identities = list(slot.key_of)
        keys_tmp = keys_path.with_name(keys_path.name + ".tmp.npz")
        np.savez(
            keys_tmp,
            subjects=np.array([s for s, _ in identities], dtype=np.str_),
            photos=np.array([p for _, p in identities], dtype=np.int64),
            keys=np.array([slot.key_of[i] for i in identities], dtype=np.uint64),
            next_key=np.int64(slot.next_key),
            entries=np.int64(len(slot.index)),
        )
        os.replace(keys_tmp, keys_path)
    except OSError as err:
        raise AnnError(f"saving the ANN index of {key} in {directory}: {err}") from err


def load_slot(
    directory: Path, key: EmbedderKey, dimensions: int, policy: AnnPolicy
) -> AnnSlot | None:
    """The slot saved for `key`, or None if there is none or it is unusable (logged)."""
    index_path, keys_path = _paths(directory, key)
    if not keys_path.exists() or not index_path.exists():
        return None
    try:
        index = AnnIndex(dimensions, policy.build_threads, policy.search_depth)
        index.load(index_path)
        with np.load(keys_path, allow_pickle=False) as saved:
            subjects, photos = saved["subjects"].tolist(), saved["photos"].tolist()
            keys, next_key = saved["keys"].tolist(), int(saved["next_key"])
            entries = int(saved["entries"])
    except (AnnError, OSError, ValueError, KeyError) as err:
        log.warning("gallery %s: saved ANN index unusable, rebuilding: %s", key, err)
        return None
    if not entries == len(index) == len(keys) or max(keys, default=-1) >= next_key:
        log.warning(
            "gallery %s: saved ANN index holds %d entries, its keys file says %d; rebuilding",
            key,
            len(index),
            entries,
        )
        return None
    key_of = {(s, int(p)): int(k) for s, p, k in zip(subjects, photos, keys, strict=True)}
    return AnnSlot(index, key_of, next_key)


def load_or_build(
    gallery: Gallery, policy: AnnPolicy, stop: threading.Event
) -> tuple[AnnSlot, bool]:
    """(slot, loaded): the saved index of `gallery`'s embedder, else a new one, saved.

    Runs on the matcher's index thread. Without `policy.index_dir` it only builds.
    """
    directory = policy.index_dir
    if directory is not None:
        slot = load_slot(directory, gallery.key, gallery.dimensions, policy)
        if slot is not None:
            return slot, True
    slot = build_slot(gallery, policy, stop)
    if directory is not None:
        try:
            save_slot(directory, gallery.key, slot)
        except AnnError as err:
            log.error("gallery %s: %s; it will be rebuilt at the next start", gallery.key, err)
    return slot, False

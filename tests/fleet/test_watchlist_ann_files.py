"""ANN recall on templates shaped like real FaceRes embeddings, and the saved index a fleet
restart loads instead of rebuilding (fleet.watchlists.ann_files).

Templates: `bench.face_templates` fits a Gaussian to the identity centres of the 32 real
people bench/face_identity.py embeds with the shipped chain and draws from it, so their
pairwise cosines are those of real different people (~0.58), not of random vectors (~0).
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np
import pytest

from bench.face_recall import SOLVAY_DIR
from bench.face_templates import FaceDistribution, real_distribution
from fleet.watchlists.ann_files import load_or_build, load_slot, save_slot
from fleet.watchlists.galleries import AnnPolicy, GalleryBuilder
from fleet.watchlists.gallery import Gallery, unit_rows
from fleet.watchlists.records import EmbedderKey, GalleryRow, Template, WatchlistRecord

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(not SOLVAY_DIR.is_dir(), reason="Debian visp-images-data not installed"),
]
KEY = EmbedderKey("faceres", "test/1.0")
WATCHLIST = WatchlistRecord("w", "", 0.75, 1, "", 0, "t")  # the shipped threshold
TEMPLATES = 2000


@functools.cache
def _dist() -> FaceDistribution:
    return real_distribution(2)


@functools.cache
def _matrix() -> np.ndarray:
    return _dist().sample(TEMPLATES, np.random.default_rng(21))


def _rows(matrix: np.ndarray, prefix: str = "s") -> list[GalleryRow]:
    out = []
    for i, v in enumerate(matrix):
        template = Template(f"{prefix}{i}", KEY, 0, v.shape[0], v.astype("<f4").tobytes())
        out.append(GalleryRow(template, WATCHLIST, f"{prefix}{i}", 0))
    return out


def _genuine(matrix: np.ndarray, rows: np.ndarray, cos: float, seed: int) -> np.ndarray:
    """Each row mixed with orthogonal noise to cosine `cos` (a match near the threshold)."""
    base = matrix[rows]
    noise = unit_rows(np.random.default_rng(seed).standard_normal(base.shape, dtype=np.float32))
    noise = unit_rows(noise - (noise * base).sum(1, keepdims=True) * base)
    return unit_rows(cos * base + np.sqrt(1 - cos * cos) * noise)


def _indexed(builder: GalleryBuilder, rows: list[GalleryRow], slot_dir: Path | None) -> Gallery:
    """A generation searched through an index, built (or loaded) as the matcher does."""
    first = builder.build(rows)[KEY]
    policy = builder.policy if slot_dir is None else _policy(slot_dir)
    slot, loaded = load_or_build(first, policy, threading.Event())
    assert loaded == (slot_dir is not None)  # given a directory, the saved index is used
    builder.install(KEY, slot)
    gallery = builder.build(rows)[KEY]
    assert gallery.ann is not None
    return gallery


def _policy(index_dir: Path | None = None) -> AnnPolicy:
    return AnnPolicy(min_templates=100, candidates=16, search_depth=128, index_dir=index_dir)


def _top(gallery: Gallery, probes: np.ndarray) -> list[list[str]]:
    found = gallery.search_many(probes, ["site"] * len(probes), 1)
    return [[m.subject_id for m in f] for f in found]


def test_real_shaped_templates_look_like_real_people() -> None:
    dist, rng = _dist(), np.random.default_rng(3)
    drawn = dist.sample(500, rng)
    real = dist.centres @ dist.centres.T
    sims = drawn @ drawn.T
    up_real, up_drawn = np.triu_indices(len(real), 1), np.triu_indices(len(drawn), 1)
    assert abs(np.median(sims[up_drawn]) - np.median(real[up_real])) < 0.05
    assert np.median(sims[up_drawn]) > 0.4  # far from random vectors (~0)


def test_ann_finds_what_exact_search_finds_on_real_shaped_templates() -> None:
    matrix = _matrix()
    gallery = _indexed(GalleryBuilder(_policy()), _rows(matrix), None)
    exact = gallery.with_ann(None)
    picks = np.random.default_rng(4).choice(TEMPLATES, 100, replace=False)
    genuine = _genuine(matrix, picks, 0.8, seed=5)
    found, truth = _top(gallery, genuine), _top(exact, genuine)
    assert truth == [[f"s{i}"] for i in picks]
    # The bound is well below what is measured (1.0 at 10^4-10^5, docs/benchmarks.md).
    assert np.mean([f == t for f, t in zip(found, truth, strict=True)]) >= 0.95
    strangers = _dist().sample(100, np.random.default_rng(6))  # enrolled nowhere
    same = [f == t for f, t in zip(_top(gallery, strangers), _top(exact, strangers), strict=True)]
    assert np.mean(same) >= 0.95


def test_a_saved_index_is_loaded_and_brought_up_to_date(tmp_path: Path) -> None:
    matrix = _matrix()
    rows = _rows(matrix)
    built, loaded = load_or_build(Gallery.of_rows(KEY, rows), _policy(tmp_path), threading.Event())
    assert not loaded and sorted(p.suffix for p in tmp_path.iterdir()) == [".npz", ".usearch"]
    slot = load_slot(tmp_path, KEY, matrix.shape[1], _policy())
    assert slot is not None and slot.key_of == built.key_of and len(slot.index) == TEMPLATES

    # A restart after a removal and an enrolment: the loaded index is updated, not rebuilt.
    builder = GalleryBuilder(_policy(tmp_path))
    newcomer = _dist().sample(1, np.random.default_rng(8))
    changed = [r for r in rows if r.template.subject_id != "s7"] + _rows(newcomer, "new")
    gallery = _indexed(builder, changed, tmp_path)
    assert builder.ann_templates(KEY) == TEMPLATES  # one gone, one added
    probes = np.concatenate([_genuine(matrix, np.array([7, 8]), 0.8, 9), newcomer])
    assert _top(gallery, probes) == _top(gallery.with_ann(None), probes) == [[], ["s8"], ["new0"]]


def test_an_unusable_saved_index_is_rebuilt(tmp_path: Path) -> None:
    rows = _rows(_matrix()[:300])
    gallery = Gallery.of_rows(KEY, rows)
    save_slot(tmp_path, KEY, load_or_build(gallery, _policy(), threading.Event())[0])
    index_file = next(tmp_path.glob("*.usearch"))
    index_file.write_bytes(index_file.read_bytes()[:1000])  # truncated by a crash or a full disk
    assert load_slot(tmp_path, KEY, gallery.dimensions, _policy()) is None
    slot, loaded = load_or_build(gallery, _policy(tmp_path), threading.Event())
    assert not loaded and len(slot.index) == 300
    assert load_slot(tmp_path, KEY, gallery.dimensions, _policy()) is not None  # saved again
    # Another embedder's dimensions: refused, not misread.
    assert load_slot(tmp_path, KEY, 512, _policy()) is None

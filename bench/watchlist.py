"""Watchlist 1:N search latency and memory, and ingest throughput with matching on vs off.

Run from the repository root: ``.venv/bin/python -m bench.watchlist [--sizes 10000 100000]``.

Search: `fleet.watchlists.gallery.Gallery` (exact float32 matrix-vector product over
L2-normalised rows, the code the fleet runs) with N random unit templates of FaceRes's
dimension (1024), one watchlist, a threshold no random pair reaches. Latency is one face
searched, p50/p99 over many probes; memory per template is the gallery's arrays divided by
N (the float32 row dominates: 4 KiB at 1024-d). Random vectors cost the same as real ones
for exact search, which is why they are fine here; ANN candidates: bench/watchlist_ann.py.

Ingest: an in-process fleet (real TLS on loopback, SQLite synchronous=FULL), one box
sending batches of face events with real-sized 1024-d float16 embeddings; events/s
acknowledged with no gallery for their embedder (matching off), then with a gallery of
`--ingest-gallery` templates (matching on, every face searched), in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from bench.machine import describe
from fleet.watchlists.gallery import Gallery, unit_rows
from fleet.watchlists.records import (
    EmbedderKey,
    SubjectRecord,
    Template,
    WatchlistRecord,
)
from proto.oko.v1 import events_pb2
from tests.fleet.helpers import AgentStream, new_device, start_fleet

DIM = 1024
KEY = EmbedderKey("faceres", "bench")


def exact_gallery(matrix: np.ndarray) -> Gallery:
    """The fleet's exact gallery over `matrix` (unit rows): one watchlist, no expiry."""
    n = len(matrix)
    watchlist = WatchlistRecord("bench", "", 0.9, 3, "", 0, "bench")
    subjects = [(f"s{i}", "x") for i in range(n)]
    zeros = np.zeros(n, np.int64)
    return Gallery(
        KEY, matrix, watchlists=[watchlist], watchlist_of=zeros, expires_us=zeros, subjects=subjects
    )


def _gallery(n: int, rng: np.random.Generator) -> Gallery:
    matrix = np.empty((n, DIM), np.float32)
    for start in range(0, n, 50_000):  # fill in blocks: no float64 temporary of n x DIM
        block = rng.standard_normal((min(50_000, n - start), DIM), dtype=np.float32)
        matrix[start : start + len(block)] = unit_rows(block)
    return exact_gallery(matrix)


def search_latency(sizes: list[int], probes: int, batch: int) -> None:
    rng = np.random.default_rng(1)
    batched_head = f"ms/face x{batch}"
    print(f"{'templates':>10} {'p50 ms':>8} {'p99 ms':>8} {batched_head:>13} {'B/template':>11}")
    for n in sizes:
        gallery = _gallery(n, rng)
        queries = unit_rows(rng.standard_normal((probes, DIM), dtype=np.float32))
        gallery.search(queries[0], "site", 0)  # warm up
        times = []
        for q in queries:
            started = time.perf_counter()
            gallery.search(q, "site", 0)
            times.append(time.perf_counter() - started)
        rounds = max(1, probes // batch // 4)
        started = time.perf_counter()
        for r in range(rounds):
            block = queries[(r * batch) % probes :][:batch]
            gallery.search_many(block, ["site"] * len(block), 0)
        batched = (time.perf_counter() - started) / (rounds * batch) * 1e3
        arrays = gallery.matrix.nbytes + 2 * 8 * n
        per_template = arrays / n + 56 + 2 * 50  # + list slot, tuple, two short strings
        p50, p99 = np.percentile(np.array(times) * 1e3, [50, 99])
        print(f"{n:>10} {p50:>8.2f} {p99:>8.2f} {batched:>13.2f} {per_template:>11.0f}", flush=True)
        del gallery


def _face_events(count: int, rng: np.random.Generator) -> list[events_pb2.Event]:
    vectors = unit_rows(rng.standard_normal((64, DIM), dtype=np.float32)).astype("<f2")
    out = []
    for i in range(count):
        e = events_pb2.Event(event_id=str(uuid.uuid4()), camera_id="cam-1", track_id=i)
        e.capture_time.GetCurrentTime()
        e.face.embedding = vectors[i % 64].tobytes()
        e.face.encoding = events_pb2.Face.ENCODING_FLOAT16
        e.face.dimensions = DIM
        e.face.embedder.name, e.face.embedder.version = KEY.name, KEY.version
        out.append(e)
    return out


async def _throughput(fleet: object, ident: object, batches: int, size: int) -> float:
    rng = np.random.default_rng(2)
    work = [_face_events(size, rng) for _ in range(batches)]
    async with ident.channel(fleet.agent_port) as channel:  # type: ignore[attr-defined]
        stream = AgentStream(channel)
        started = time.perf_counter()
        for batch in work:
            stream.send_batch(batch)
        for _ in work:
            await stream.next("ack", timeout=120)
        elapsed = time.perf_counter() - started
        stream.close()
    return batches * size / elapsed


async def ingest_ratio(gallery_size: int, batches: int, size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fleet = await start_fleet(Path(tmp) / "fleet")
        try:
            app = fleet.app
            ident = await new_device(
                fleet, app.bootstrap_token, (Path(tmp) / "fleet/ca/ca.pem").read_bytes()
            )
            off = await _throughput(fleet, ident, batches, size)
            await _enrol_random(app, gallery_size)
            on = await _throughput(fleet, ident, batches, size)
            matcher = app.ingestor.on_commit[0].__self__  # type: ignore[attr-defined]
            await matcher.idle.wait()
            searched = app.metrics.registry.get_sample_value("oko_fleet_faces_searched_total")
        finally:
            await fleet.stop(0.5)
    print(
        f"ingest of {batches}x{size} face events: matching off {off:.0f} ev/s, "
        f"on ({gallery_size} templates) {on:.0f} ev/s, ratio on/off {on / off:.2f}; "
        f"faces searched {searched:.0f}"
    )


async def _enrol_random(app: object, n: int) -> None:
    """One subject holding n random templates of the bench embedder (no photos needed)."""
    store = app.store  # type: ignore[attr-defined]
    await store.create_watchlist(WatchlistRecord("bench", "", 0.9, 3, "", 0, "bench"))
    rng = np.random.default_rng(3)
    vectors = unit_rows(rng.standard_normal((n, DIM), dtype=np.float32)).astype("<f4")
    templates = tuple(Template("s1", KEY, i, DIM, v.tobytes()) for i, v in enumerate(vectors))
    await store.add_subject(
        SubjectRecord("s1", "bench", "x", "bench", 0, 0, "bench", (), templates)
    )
    matcher = app.ingestor.on_commit[0].__self__  # type: ignore[attr-defined]
    await matcher.reload()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--search-batch", type=int, default=32, help="faces per product")
    parser.add_argument("--ingest-gallery", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=250)
    args = parser.parse_args()
    print(describe())
    search_latency(args.sizes, args.probes, args.search_batch)
    asyncio.run(ingest_ratio(args.ingest_gallery, args.batches, args.batch_size))


if __name__ == "__main__":
    main()

"""Spool figures: append/drain throughput (synchronous FULL vs NORMAL) and disk overhead.

Run from the repository root: ``.venv/bin/python -m bench.spool``. Uses a temporary
directory on the same filesystem as /tmp; fsync cost depends heavily on the disk, so the
numbers only describe the machine printed with them.
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Literal

from agent.spool import Spool
from bench.machine import describe
from proto.oko.v1 import events_pb2
from tests.support.events import make_event

# A plausible mix for a street camera: mostly line/zone events, some faces and flows.
MIX = ["line_crossing"] * 6 + ["zone"] * 2 + ["traffic_flow", "face"]


def _events(n: int) -> list[events_pb2.Event]:
    kinds = itertools.cycle(MIX)
    return [make_event(f"cam-{i % 8}", i + 1, next(kinds)) for i in range(n)]


def _append_rate(
    sync: Literal["FULL", "NORMAL"], batch: int, events: list[events_pb2.Event]
) -> float:
    with tempfile.TemporaryDirectory() as tmp, Spool(Path(tmp) / "s.db", synchronous=sync) as s:
        start = time.perf_counter()
        for i in range(0, len(events), batch):
            s.append(events[i : i + batch])
        return len(events) / (time.perf_counter() - start)


def _drain_rate(events: list[events_pb2.Event]) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.db"
        with Spool(path) as s:
            s.append(events)
            payload = s.bytes()
            file_bytes = path.stat().st_size + Path(f"{path}-wal").stat().st_size
            start = time.perf_counter()
            while batch := s.peek_batch(500, 1 << 20):
                s.ack([b.event_id for b in batch])
            rate = len(events) / (time.perf_counter() - start)
        return rate, file_bytes / payload


def main() -> None:
    print(f"machine: {describe()}")
    events = _events(5000)
    sizes = [e.ByteSize() for e in events]
    print(f"event mix {MIX}: mean {statistics.mean(sizes):.0f} B/event serialized")
    syncs: tuple[Literal["FULL", "NORMAL"], ...] = ("FULL", "NORMAL")
    for sync in syncs:
        for batch in (1, 10, 100, 500):
            n = 500 if batch == 1 else 5000
            rate = _append_rate(sync, batch, events[:n])
            print(f"append synchronous={sync:6s} batch={batch:4d}: {rate:9.0f} events/s")
    rate, overhead = _drain_rate(events)
    print(f"drain (peek 500 + ack): {rate:.0f} events/s; file+WAL / payload bytes = {overhead:.2f}")


if __name__ == "__main__":
    main()

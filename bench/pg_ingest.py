"""The PostgreSQL store's ingest, and what its commit-ordered cursor costs.

Starts its own PostgreSQL (fsync and synchronous_commit on: an acknowledged event is on
disk), then runs `fleet.store.pg.PostgresStore.ingest` (the real code) from 1 and 2
concurrent writers, each one store with its own pool, as replicas would be. Writers take
turns on the cursor counter row, so the same run with cursors from a SEQUENCE instead
(no order guarantee between writers: the baseline the counter is paid against) shows
what the ordering costs. Prints events/s stored per variant.

    .venv/bin/python -m bench.pg_ingest --groups 40 --group 2000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

import asyncpg

from bench.machine import describe
from fleet.store.pg import PostgresStore
from fleet.store.pg_events import EVENT_COLUMNS as COLUMNS
from fleet.store.pg_migrate import migrate
from fleet.store.records import NewEvent
from tests.support.pg import PostgresServer

PAYLOAD = os.urandom(300)


def group(size: int) -> list[list[NewEvent]]:
    now = time.time_ns() // 1000
    events = [
        NewEvent(str(uuid.uuid4()), "dev-1", "cam-1", "site", "line_crossing", now, PAYLOAD)
        for _ in range(size)
    ]
    return [events[i : i + 100] for i in range(0, size, 100)]


async def counter_writer(store: PostgresStore, groups: int, size: int) -> None:
    for _ in range(groups):
        await store.ingest(group(size), time.time_ns() // 1000)


async def sequence_writer(url: str, groups: int, size: int) -> None:
    """The same three steps, cursors from nextval(): no row every writer waits on."""
    conn = await asyncpg.connect(url)
    for _ in range(groups):
        batches = group(size)
        now = time.time_ns() // 1000
        async with conn.transaction():
            ids = sorted(e.event_id for b in batches for e in b)
            await conn.fetch(
                "INSERT INTO event_ids (event_id) SELECT unnest($1::text[]) ORDER BY 1"
                " ON CONFLICT DO NOTHING RETURNING event_id",
                ids,
            )
            cursors = await conn.fetch(
                "SELECT nextval('bench_cursor') FROM generate_series(1, $1)", len(ids)
            )
            rows = [
                (c[0], *e[:5], e.capture_us, now, e.payload)
                for c, e in zip(cursors, (e for b in batches for e in b), strict=True)
            ]
            await conn.copy_records_to_table("events", records=rows, columns=COLUMNS)
    await conn.close()


async def run(url: str, writers: int, groups: int, size: int, ordered: bool) -> float:
    stores = [await PostgresStore.open(url) for _ in range(writers)] if ordered else []
    started = time.perf_counter()
    if ordered:
        await asyncio.gather(*(counter_writer(s, groups, size) for s in stores))
    else:
        await asyncio.gather(*(sequence_writer(url, groups, size) for _ in range(writers)))
    elapsed = time.perf_counter() - started
    for store in stores:
        await store.close()
    return writers * groups * size / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=40, help="group commits per writer")
    parser.add_argument("--group", type=int, default=2000, help="events per group commit")
    args = parser.parse_args()
    print(describe())
    print(f"load average before: {os.getloadavg()}")
    server = PostgresServer().init()
    try:
        await asyncio.to_thread(migrate, server.dsn)
        conn = await asyncpg.connect(server.dsn)
        await conn.execute("CREATE SEQUENCE bench_cursor START 100000000")
        await conn.close()
        for writers in (1, 2):
            for ordered in (True, False):
                rate = await run(server.dsn, writers, args.groups, args.group, ordered)
                how = "counter row (commit order)" if ordered else "sequence (no order)"
                print(
                    f"{writers} writer(s), {args.group} events/commit, {how:27s}"
                    f" {rate:8.0f} events/s"
                )
    finally:
        server.close()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    asyncio.run(main())

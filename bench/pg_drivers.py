"""psycopg 3 vs asyncpg for the fleet's batched ingest: which driver the PostgreSQL store uses.

Starts its own PostgreSQL (tests/support/pg.py), then for each driver and method commits
`--batches` transactions of `--batch` event rows (payload 300 bytes, the size of a typical
line-crossing event) into an events-like table, one transaction per batch with a
single-row cursor counter updated in it, as the store does. Prints events/s (wall) and the
client's CPU seconds per 100,000 events (what the fleet process itself pays).

    .venv/bin/python -m bench.pg_drivers --batches 100 --batch 2000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import psycopg

from bench.machine import describe
from fleet.store.pg_events import EVENT_COLUMNS
from tests.support.pg import PostgresServer

DDL = """
DROP TABLE IF EXISTS ev; DROP TABLE IF EXISTS ctr;
CREATE TABLE ev (cursor bigint PRIMARY KEY, event_id text NOT NULL UNIQUE, device_id text,
  camera_id text, site text, type text, capture_us bigint, received_us bigint, payload bytea);
CREATE TABLE ctr (id int PRIMARY KEY, value bigint NOT NULL); INSERT INTO ctr VALUES (1, 0);
"""
COLUMNS = list(EVENT_COLUMNS)  # `ev` has the store's events layout
PAYLOAD = os.urandom(300)


def rows(start: int, n: int) -> list[tuple[object, ...]]:
    now = time.time_ns() // 1000
    return [
        (start + i, str(uuid.uuid4()), "dev-1", "cam-1", "site", "line_crossing", now, now, PAYLOAD)
        for i in range(n)
    ]


async def asyncpg_copy(dsn: str, batches: int, size: int) -> None:
    conn = await asyncpg.connect(dsn)
    for _ in range(batches):
        async with conn.transaction():
            top = await conn.fetchval("UPDATE ctr SET value = value + $1 RETURNING value", size)
            await conn.copy_records_to_table(
                "ev", records=rows(top - size + 1, size), columns=COLUMNS
            )
    await conn.close()


async def asyncpg_unnest(dsn: str, batches: int, size: int) -> None:
    conn = await asyncpg.connect(dsn)
    sql = (
        "INSERT INTO ev SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],"
        " $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bytea[])"
    )
    for _ in range(batches):
        async with conn.transaction():
            top = await conn.fetchval("UPDATE ctr SET value = value + $1 RETURNING value", size)
            cols = list(zip(*rows(top - size + 1, size), strict=True))
            await conn.execute(sql, *cols)
    await conn.close()


async def psycopg_copy(dsn: str, batches: int, size: int) -> None:
    conn = await psycopg.AsyncConnection.connect(dsn)
    types = ["int8", "text", "text", "text", "text", "text", "int8", "int8", "bytea"]
    for _ in range(batches):
        async with conn.transaction():
            cur = await conn.execute("UPDATE ctr SET value = value + %s RETURNING value", (size,))
            top = (await cur.fetchone())[0]  # type: ignore[index]
            async with cur.copy(
                f"COPY ev ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(types)
                for row in rows(top - size + 1, size):
                    await copy.write_row(row)
    await conn.close()


async def psycopg_executemany(dsn: str, batches: int, size: int) -> None:
    conn = await psycopg.AsyncConnection.connect(dsn)
    sql = f"INSERT INTO ev ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * 9)})"
    for _ in range(batches):
        async with conn.transaction():
            cur = await conn.execute("UPDATE ctr SET value = value + %s RETURNING value", (size,))
            top = (await cur.fetchone())[0]  # type: ignore[index]
            await cur.executemany(sql, rows(top - size + 1, size))
    await conn.close()


METHODS: dict[str, Callable[[str, int, int], Awaitable[None]]] = {
    "asyncpg COPY (copy_records_to_table)": asyncpg_copy,
    "asyncpg INSERT ... unnest(arrays)": asyncpg_unnest,
    "psycopg3 COPY BINARY (write_row)": psycopg_copy,
    "psycopg3 executemany (pipeline)": psycopg_executemany,
}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()
    print(describe())
    server = PostgresServer().init()
    try:
        for name, method in METHODS.items():
            setup = await asyncpg.connect(server.dsn)
            await setup.execute(DDL)
            await setup.close()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await method(server.dsn, args.batches, args.batch)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            n = args.batches * args.batch
            print(
                f"{name:40s} {n / wall:9.0f} events/s  "
                f"client CPU {cpu / n * 100_000:5.2f} s per 100k events"
            )
    finally:
        server.close()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    asyncio.run(main())

"""The PostgreSQL half of `oko-fleet backup` / `restore`: pg_dump and pg_restore.

A fleet on PostgreSQL (docs/scale.md) keeps its state in the database, so the backup is a
`pg_dump --format=custom` of it: one consistent snapshot (pg_dump reads in one repeatable-
read transaction) taken while every replica keeps ingesting. A restore loads it with
`pg_restore` into a new, empty database (never over a live one) and checks that what came
back is a fleet store at the revision it was dumped at. The password never reaches a
command line (`ps` shows those): it is passed in PGPASSWORD.

PostgreSQL's own continuous archiving (WAL, pg_basebackup) is the tool for point-in-time
recovery of a national fleet; this is the fleet-level copy an operator makes before an
upgrade or moves to another cluster.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import asyncpg

from fleet.errors import FleetError
from fleet.store.pg_url import redact

DUMP_FILE = "store.pgdump"
_TIMEOUT_S = 3600


class PgBackupError(FleetError):
    """pg_dump or pg_restore failed, or the database is not what it must be."""


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for bin_dir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (bin_dir / name).is_file():
            return str(bin_dir / name)
    raise PgBackupError(f"{name} not found: install the PostgreSQL client (postgresql-client)")


def _without_password(url: str) -> tuple[str, dict[str, str]]:
    """(URL without its password, environment carrying it)."""
    parts = urllib.parse.urlsplit(url)
    env = dict(os.environ)
    if parts.password is None:
        return url, env
    env["PGPASSWORD"] = urllib.parse.unquote(parts.password)
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), env


def _run(name: str, args: list[str], url: str) -> None:
    bare, env = _without_password(url)
    argv = [_tool(name), *args, "--dbname", bare]
    try:
        done = subprocess.run(
            argv, check=False, env=env, capture_output=True, text=True, timeout=_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise PgBackupError(f"{name} on {redact(url)}: {err}") from err
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise PgBackupError(f"{name} on {redact(url)} failed: {detail[0][:300]}")


async def _query(url: str, sql: str) -> int:
    """One count from the database at `url`; PgBackupError naming what failed."""
    try:
        conn = await asyncpg.connect(url, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as err:
        raise PgBackupError(f"cannot reach {redact(url)}: {err}") from err
    try:
        return int(await conn.fetchval(sql))
    except asyncpg.PostgresError as err:
        raise PgBackupError(f"{redact(url)} is not a fleet store: {err}") from err
    finally:
        await conn.close()


async def _counts(url: str) -> tuple[int, int]:
    """(events, devices) of the store at `url`."""
    events = await _query(url, "SELECT count(*) FROM events")
    return events, await _query(url, "SELECT count(*) FROM devices")


async def _require_empty(url: str) -> None:
    tables = await _query(url, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")
    if tables:
        raise PgBackupError(
            f"{redact(url)} already has {tables} tables: restore into a new, empty database"
        )


def dump(url: str, target: Path) -> tuple[int, int]:
    """Dump the store at `url` into `target` (created 0600); (events, devices) it holds."""
    counts = asyncio.run(_counts(url))
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)  # pg_dump writes into the private file that now exists
    _run("pg_dump", ["--format=custom", "--no-owner", "--file", str(target)], url)
    return counts


def load(source: Path, url: str) -> tuple[int, int]:
    """Restore `source` into the empty database at `url`; (events, devices) restored."""
    asyncio.run(_require_empty(url))
    _run("pg_restore", ["--no-owner", "--exit-on-error", str(source)], url)
    return asyncio.run(_counts(url))

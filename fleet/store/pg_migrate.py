"""Schema migrations of the PostgreSQL store with Alembic (`oko-fleet migrate`).

Revisions live in `fleet/store/pg_migrations/versions/`, one per schema change, applied in
order; Alembic records the applied one in `alembic_version`. The store checks that
record when it opens and refuses a database that is behind (or ahead of) this code,
naming the command that fixes it, instead of failing later on a missing column.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from fleet.errors import FleetError, StoreError
from fleet.store.pg_url import redact, sqlalchemy_url

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("pg_migrations")


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision this code knows: what `migrate` brings a database to."""
    head = ScriptDirectory.from_config(_config("postgresql://x/y")).get_current_head()
    assert head is not None
    return head


def revisions() -> list[str]:
    """Every known revision, oldest first."""
    script = ScriptDirectory.from_config(_config("postgresql://x/y"))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database to `revision` (default: the newest); a no-op when it is there.

    Synchronous (Alembic runs its own event loop): call it from a CLI or a worker thread.
    """
    try:
        command.upgrade(_config(url), revision)
    except FleetError:
        raise
    except Exception as err:  # driver, network, SQL: all mean the migration did not finish
        raise StoreError(f"migrating {redact(url)} failed: {err}") from err


def _current(url: str) -> str | None:
    """The revision the database is at (None: never migrated), read through Alembic."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import pool
    from sqlalchemy.ext.asyncio import create_async_engine

    async def read() -> str | None:
        engine = create_async_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())


def migrate_reporting(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """`migrate`, returning (revision before, revision after) for the operator."""
    try:
        before = _current(url)
    except Exception as err:
        raise StoreError(f"cannot reach {redact(url)}: {err}") from err
    migrate(url, revision)
    return before, _current(url)

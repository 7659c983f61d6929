"""Alembic environment: run the revisions over SQLAlchemy's asyncpg dialect.

The store itself talks asyncpg directly; Alembic needs a SQLAlchemy connection, and the
asyncpg dialect gives it one without a second database driver. Revisions are plain SQL
(`op.execute`): the schema is written for PostgreSQL, not generated from models.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine


def _run(connection: Connection) -> None:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def _online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


asyncio.run(_online())

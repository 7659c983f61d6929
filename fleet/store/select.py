"""Which store a fleet runs on: SQLite in its data directory, or PostgreSQL by URL.

`--store` (FleetSettings.store) empty means the embedded default, `<data_dir>/fleet.db`;
a `postgresql://` URL means the shared database several replicas run over
(docs/scale.md). The PostgreSQL modules are imported only then, so a fleet installed
without the `scale` extra runs on SQLite as before.
"""

from __future__ import annotations

from pathlib import Path

from fleet.errors import FleetError
from fleet.store.base import Store
from fleet.store.pg_url import is_postgres_url
from fleet.store.sqlite import SqliteStore

STORE_FILE = "fleet.db"


def check_store_url(value: str) -> str:
    """'' or a postgresql:// URL; anything else is refused naming what is accepted."""
    if value and not is_postgres_url(value):
        raise ValueError(
            f"{value!r} is not a store: leave it empty for SQLite in the data directory, "
            "or give postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
        )
    return value


async def open_store(url: str, data_dir: Path) -> Store:
    """Open the store `url` names (see the module docstring)."""
    if not url:
        return await SqliteStore.open(data_dir / STORE_FILE)
    check_store_url(url)
    try:
        from fleet.store.pg import PostgresStore
    except ImportError as err:  # pragma: no cover - depends on the installed extras
        raise FleetError(
            f"PostgreSQL store needs the scale extra ({err.name} missing): "
            "pip install 'oko-vision[scale]'"
        ) from err
    return await PostgresStore.open(url)

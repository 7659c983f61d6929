"""Fleet storage: one `Store` protocol (base.py), SQLite as the embedded default."""

from fleet.store.base import Store
from fleet.store.sqlite import SqliteStore

__all__ = ["SqliteStore", "Store"]

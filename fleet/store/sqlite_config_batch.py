"""Config documents of many devices at once on SQLite: one read, one write transaction.

`okoctl config set --selector` (AdminService.SetConfigs) changes one scope on thousands of
devices; a read and a transaction per device made that a round trip per box. The contract
of each method is documented on `fleet.store.base.Store`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from typing_extensions import override

from fleet.store import sqlite_registry as reg
from fleet.store.base import Store
from fleet.store.records import ConfigDoc

T = TypeVar("T")
_CHUNK = 500  # devices per IN (...) list: far below SQLite's bound on parameters


def config_docs_of(
    conn: sqlite3.Connection, device_ids: Sequence[str]
) -> dict[str, dict[str, ConfigDoc]]:
    """Newest document per scope (the rendered one under RENDERED_SCOPE) per device."""
    out: dict[str, dict[str, ConfigDoc]] = {d: {} for d in device_ids}
    ids = list(out)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(
            "SELECT device_id, scope, version, document, sha256, created_us, author"
            f" FROM config_docs c WHERE device_id IN ({marks}) AND version ="
            " (SELECT max(version) FROM config_docs"
            " WHERE device_id = c.device_id AND scope = c.scope)",
            chunk,
        )
        for row in rows:
            out[row[0]][row[1]] = ConfigDoc(*row)
    return out


def put_configs(
    conn: sqlite3.Connection, pairs: Sequence[tuple[ConfigDoc, ConfigDoc]]
) -> list[str]:
    """Insert each (scope document, rendering) whose device is still one version below it.

    Runs in the caller's one transaction; devices that moved meanwhile are skipped and
    returned, so a concurrent edit of one box is never overwritten and never fails the rest.
    """
    conflicts: list[str] = []
    for doc, rendered in pairs:
        current = reg.current_version(conn, doc.device_id)
        if doc.version != current + 1 or rendered.version != doc.version:
            conflicts.append(doc.device_id)
            continue
        for item in (doc, rendered):
            reg._insert(conn, "config_docs", item)
    return conflicts


class ConfigBatchStoreMixin(Store):
    """Needs the host class's `_write` (writer thread, one transaction) and `_read`."""

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` in one write transaction (the host class's)."""
        raise NotImplementedError

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` on a reader connection (the host class's)."""
        raise NotImplementedError

    @override
    async def config_docs_of(self, device_ids: Sequence[str]) -> dict[str, dict[str, ConfigDoc]]:
        return await self._read(config_docs_of, list(device_ids))

    @override
    async def put_configs(self, pairs: Sequence[tuple[ConfigDoc, ConfigDoc]]) -> list[str]:
        return await self._write(put_configs, list(pairs))

"""Config documents of many devices at once on PostgreSQL: one read, one transaction.

The same contract as `sqlite_config_batch`. The write takes each device's config lock
(the one `pg_registry.put_config` takes, in device order so two batches cannot deadlock),
reads every device's current version in one query and inserts all rows with one
`unnest` INSERT: a push to 2,000 boxes is a handful of statements, not 2,000 round trips.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from typing_extensions import override

from fleet.store.base import Store
from fleet.store.pg_registry import _CONFIG_LOCK
from fleet.store.records import ConfigDoc

Conn = asyncpg.Connection
T = TypeVar("T")


async def config_docs_of(conn: Conn, device_ids: Sequence[str]) -> dict[str, dict[str, ConfigDoc]]:
    """Newest document per scope (the rendered one under RENDERED_SCOPE) per device."""
    out: dict[str, dict[str, ConfigDoc]] = {d: {} for d in device_ids}
    rows = await conn.fetch(
        "SELECT DISTINCT ON (device_id, scope) device_id, scope, version, document, sha256,"
        " created_us, author FROM config_docs WHERE device_id = ANY($1::text[])"
        " ORDER BY device_id, scope, version DESC",
        list(out),
    )
    for row in rows:
        out[row[0]][row[1]] = ConfigDoc(*row)
    return out


async def put_configs(conn: Conn, pairs: Sequence[tuple[ConfigDoc, ConfigDoc]]) -> list[str]:
    """Insert each pair whose device is still one version below it; return the others."""
    ids = sorted({doc.device_id for doc, _ in pairs})
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext(d)) FROM unnest($2::text[]) AS d ORDER BY d",
        _CONFIG_LOCK,
        ids,
    )
    rows = await conn.fetch(
        "SELECT device_id, max(version) FROM config_docs WHERE device_id = ANY($1::text[])"
        " GROUP BY device_id",
        ids,
    )
    current = {row[0]: int(row[1]) for row in rows}
    conflicts: list[str] = []
    items: list[ConfigDoc] = []
    for doc, rendered in pairs:
        if doc.version != current.get(doc.device_id, 0) + 1 or rendered.version != doc.version:
            conflicts.append(doc.device_id)
        else:
            items += (doc, rendered)
    if items:
        columns = list(zip(*(dataclasses.astuple(item) for item in items), strict=True))
        await conn.execute(
            "INSERT INTO config_docs (device_id, scope, version, document, sha256, created_us,"
            " author) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[],"
            " $5::text[], $6::bigint[], $7::text[])",
            *[list(c) for c in columns],
        )
    return conflicts


class ConfigBatchMixin(Store):
    """Needs the host's `_tx` and `_read`."""

    async def _tx(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    async def _read(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    @override
    async def config_docs_of(self, device_ids: Sequence[str]) -> dict[str, dict[str, ConfigDoc]]:
        return await self._read(config_docs_of, list(device_ids))

    @override
    async def put_configs(self, pairs: Sequence[tuple[ConfigDoc, ConfigDoc]]) -> list[str]:
        return await self._tx(put_configs, list(pairs))

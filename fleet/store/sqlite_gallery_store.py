"""The re-embedding half of `SqliteStore`: async methods over `sqlite_galleries` queries.

A mixin so that `fleet/store/sqlite.py` only lists it among its bases; the contract of each
method is documented on `fleet.store.base.Store`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from typing_extensions import override

from fleet.store import sqlite_galleries as gal
from fleet.store.base import Store
from fleet.watchlists.records import EmbedderKey, Template

T = TypeVar("T")


class GalleryStoreMixin(Store):
    """Needs the host class's `_write` (writer thread, one transaction) and `_read`."""

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` in one write transaction (the host class's)."""
        raise NotImplementedError

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` on a reader connection (the host class's)."""
        raise NotImplementedError

    @override
    async def photo_keys(self) -> list[tuple[str, int]]:
        return await self._read(gal.photo_keys)

    @override
    async def photo_data(self, subject_id: str, photo_index: int) -> bytes:
        return await self._read(gal.photo_data, subject_id, photo_index)

    @override
    async def template_keys(self, embedder: EmbedderKey) -> set[tuple[str, int]]:
        return await self._read(gal.template_keys, embedder)

    @override
    async def add_template(self, template: Template) -> bool:
        return await self._write(gal.add_template, template)

"""The model-registry half of `SqliteStore`: async methods over `sqlite_models` queries.

A mixin so that `fleet/store/sqlite.py` only lists it among its bases; the contract of each
method is documented on `fleet.store.base.Store`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from typing_extensions import override

from fleet.models.records import Assignment, ModelReportRecord, ModelVersion, SigningKeyRecord
from fleet.store import sqlite_models as md
from fleet.store.base import Store

T = TypeVar("T")


class ModelStoreMixin(Store):
    """Needs the host class's `_write` (writer thread, one transaction) and `_read`."""

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` in one write transaction (the host class's)."""
        raise NotImplementedError

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` on a reader connection (the host class's)."""
        raise NotImplementedError

    @override
    async def add_signing_key(self, key: SigningKeyRecord) -> None:
        await self._write(md.add_signing_key, key)

    @override
    async def list_signing_keys(self) -> list[SigningKeyRecord]:
        return await self._read(md.list_signing_keys)

    @override
    async def add_model_version(self, version: ModelVersion) -> None:
        await self._write(md.add_model_version, version)

    @override
    async def get_model_version(self, name: str, version: str) -> ModelVersion | None:
        return await self._read(md.get_model_version, name, version)

    @override
    async def list_model_versions(self, name: str = "") -> list[ModelVersion]:
        return await self._read(md.list_model_versions, name)

    @override
    async def count_assigned(self, name: str, version: str) -> int:
        return await self._read(md.count_assigned, name, version)

    @override
    async def put_assignments(self, wanted: Sequence[Assignment]) -> list[Assignment]:
        return await self._write(md.put_assignments, wanted)

    @override
    async def get_assignments(self, device_id: str = "") -> list[Assignment]:
        return await self._read(md.get_assignments, device_id)

    @override
    async def record_model_report(self, device_id: str, report: ModelReportRecord) -> None:
        await self._write(md.record_model_report, device_id, report)

    @override
    async def get_model_reports(self, device_id: str = "") -> list[tuple[str, ModelReportRecord]]:
        return await self._read(md.get_model_reports, device_id)

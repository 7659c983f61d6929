"""The watchlist half of `SqliteStore`: async methods over `sqlite_watchlists` queries.

A mixin so that `fleet/store/sqlite.py` only lists it among its bases; the contract of each
method is documented on `fleet.store.base.Store`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from typing_extensions import override

from fleet.store import sqlite_watchlists as wl
from fleet.store.base import Store
from fleet.watchlists.records import (
    AlertQuery,
    AlertRecord,
    AuditQuery,
    AuditRow,
    Checkpoint,
    DecisionRecord,
    GalleryRow,
    SubjectRecord,
    WatchlistRecord,
)

T = TypeVar("T")


class WatchlistStoreMixin(Store):
    """Needs the host class's `_write` (writer thread, one transaction) and `_read`."""

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` in one write transaction (the host class's)."""
        raise NotImplementedError

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` on a reader connection (the host class's)."""
        raise NotImplementedError

    @override
    async def create_watchlist(self, watchlist: WatchlistRecord) -> None:
        await self._write(wl.create_watchlist, watchlist)

    @override
    async def list_watchlists(self) -> list[WatchlistRecord]:
        return await self._read(wl.list_watchlists)

    @override
    async def get_watchlist(self, name: str) -> WatchlistRecord:
        return await self._read(wl.get_watchlist, name)

    @override
    async def delete_watchlist(self, name: str) -> WatchlistRecord:
        return await self._write(wl.delete_watchlist, name)

    @override
    async def add_subject(self, subject: SubjectRecord) -> None:
        await self._write(wl.add_subject, subject)

    @override
    async def list_subjects(self, watchlist: str = "") -> list[SubjectRecord]:
        return await self._read(wl.list_subjects, watchlist)

    @override
    async def get_subject(self, subject_id: str) -> SubjectRecord:
        return await self._read(wl.get_subject, subject_id)

    @override
    async def remove_subject(self, subject_id: str) -> SubjectRecord:
        return await self._write(wl.remove_subject, subject_id)

    @override
    async def gallery_rows(self) -> list[GalleryRow]:
        return await self._read(wl.gallery_rows)

    @override
    async def add_alert(self, alert: AlertRecord) -> bool:
        return await self._write(wl.add_alert, alert)

    @override
    async def get_alert(self, alert_id: str) -> AlertRecord:
        return await self._read(wl.get_alert, alert_id)

    @override
    async def list_alerts(self, query: AlertQuery) -> list[AlertRecord]:
        return await self._read(wl.list_alerts, query)

    @override
    async def decide_alert(self, alert_id: str, decision: DecisionRecord) -> AlertRecord:
        return await self._write(wl.decide_alert, alert_id, decision)

    @override
    async def list_audit(self, query: AuditQuery) -> list[AuditRow]:
        return await self._read(wl.list_audit, query)

    @override
    async def audit_head(self) -> tuple[int, str]:
        return await self._read(wl.audit_head)

    @override
    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        await self._write(wl.add_checkpoint, checkpoint)

    @override
    async def latest_checkpoint(self) -> Checkpoint | None:
        return await self._read(wl.latest_checkpoint)

"""The certificate half of `SqliteStore`: async methods over `sqlite_certs` queries.

A mixin like `WatchlistStoreMixin`; the contract of each method is documented on
`fleet.store.base.Store`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from typing_extensions import override

from fleet.store import sqlite_certs as certs
from fleet.store.base import Store
from fleet.store.cert_records import CertIssue, CertMatch, CertSummary, ReissueRequest
from fleet.store.records import Device, EnrollmentToken

T = TypeVar("T")


class CertStoreMixin(Store):
    """Needs the host class's `_write` (writer thread, one transaction) and `_read`."""

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` in one write transaction (the host class's)."""
        raise NotImplementedError

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` on a reader connection (the host class's)."""
        raise NotImplementedError

    @override
    async def device_by_certificate(self, serial: str) -> CertMatch | None:
        return await self._read(certs.device_by_certificate, serial)

    @override
    async def certificate_first_used(self, device_id: str, serial: str, at_us: int) -> bool:
        return await self._write(certs.first_use, device_id, serial, at_us)

    @override
    async def renew_certificate(self, presented_serial: str, issue: CertIssue) -> Device:
        return await self._write(certs.renew_certificate, presented_serial, issue)

    @override
    async def add_reissue_token(self, token: EnrollmentToken, device_id: str) -> None:
        await self._write(certs.add_reissue_token, token, device_id)

    @override
    async def reissue_binding(self, token_id: str) -> str | None:
        return await self._read(certs.reissue_binding, token_id)

    @override
    async def reissue_device(self, request: ReissueRequest) -> Device:
        return await self._write(certs.reissue_device, request)

    @override
    async def certificate_summaries(self, device_id: str = "") -> dict[str, CertSummary]:
        return await self._read(certs.cert_summaries, device_id)

    @override
    async def active_certificate_expiries(self) -> list[int]:
        return await self._read(certs.active_expiries)

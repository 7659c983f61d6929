"""Audit: the hash-chained audit log with filters, and the result of verifying it.

Admins only, as `WatchlistService.ListAudit`. Verification (`?verify=1`) recomputes the
whole chain from the store page by page and checks the newest signed checkpoint, like
`okoctl audit verify` does on the entries it downloads; it is itself audited.
"""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fleet.audit_chain import ChainVerifier, Verdict
from fleet.auth import Role
from fleet.console.context import Console
from fleet.console.filters import int_param
from fleet.console.guard import RefusedError
from fleet.watchlists.records import AuditQuery

VERIFY_PAGE = 5000
MAX_FILTER_CHARS = 128


def _text(request: Request, name: str) -> str:
    value = request.query_params.get(name, "").strip()
    if len(value) > MAX_FILTER_CHARS or not value.isprintable():
        raise RefusedError(400, f"{name} must be at most {MAX_FILTER_CHARS} printable characters")
    return value


class AuditPages:
    """/audit."""

    def __init__(self, console: Console) -> None:
        self.c = console

    def routes(self) -> list[Route]:
        """The routes of this module."""
        return [Route("/audit", self.index, methods=["GET"])]

    async def verify(self) -> Verdict:
        """Every entry of the chain, page by page, and the newest checkpoint."""
        store = self.c.app.store
        checkpoint = await store.latest_checkpoint()
        verifier = ChainVerifier([checkpoint] if checkpoint else [])
        after = 0
        while rows := await store.list_audit(AuditQuery(after_seq=after, limit=VERIFY_PAGE)):
            await asyncio.to_thread(verifier.feed, rows)  # hashing: off the event loop
            after = rows[-1].seq
        return verifier.verdict()

    async def index(self, request: Request) -> Response:
        """Entries newest first (one page), filtered by actor, action and age."""
        caller = await self.c.guard.caller(request, Role.ADMIN, "audit")
        actor, action = _text(request, "actor"), _text(request, "action")
        hours = int_param(request, "hours", 0, 0, 24 * 3650)
        rows_per_page = self.c.settings.page_rows
        head_seq, _ = await self.c.app.store.audit_head()
        default_after = 0 if (actor or action) else max(0, head_seq - rows_per_page)
        after = int_param(request, "after", default_after, 0, 2**63 - 1)
        since = time.time_ns() // 1000 - hours * 3_600_000_000 if hours else 0
        rows = await self.c.app.store.list_audit(
            AuditQuery(
                after_seq=after, limit=rows_per_page, since_us=since, actor=actor, action=action
            )
        )
        verdict = None
        if request.query_params.get("verify") == "1":
            verdict = await self.verify()
            outcome = "ok" if verdict.ok else "; ".join(verdict.problems)[:500]
            await self.c.audit(
                caller.name, "audit.verify", "*", f"{verdict.entries} entries: {outcome}"
            )
        else:
            await self.c.audit(
                caller.name,
                "console.view",
                "audit",
                f"actor={actor!r} action={action!r} hours={hours}",
            )
        return self.c.page(
            request,
            caller,
            "audit.html",
            rows=list(reversed(rows)),
            actor=actor,
            action=action,
            hours=hours,
            after=after,
            head_seq=head_seq,
            page_rows=rows_per_page,
            verdict=verdict,
            older=max(0, after - rows_per_page),
            newer=rows[-1].seq if len(rows) == rows_per_page else 0,
        )

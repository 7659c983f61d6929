"""What every console page needs: the fleet, its watchlists, sessions, live views, templates."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import HTMLResponse

from fleet.app import FleetApp
from fleet.console.guard import Caller, Guard
from fleet.console.live import LiveViews
from fleet.console.render import Pages
from fleet.console.sessions import ConsoleSessions
from fleet.console.settings import ConsoleSettings
from fleet.watchlists.evidence_records import EvidenceMeta
from fleet.watchlists.runtime import Watchlists

log = logging.getLogger(__name__)

NAV = (
    ("alerts", "/alerts", "Alerts"),
    ("events", "/events", "Events"),
    ("cameras", "/cameras", "Cameras"),
    ("counts", "/counts", "Counts"),
    ("audit", "/audit", "Audit"),
)


@dataclass
class ConsoleMetrics:
    """Console counters on the fleet's registry."""

    logins: Counter
    requests: Counter


@dataclass(eq=False)
class Console:
    """The console's shared state; route modules receive this one object."""

    app: FleetApp
    watchlists: Watchlists
    settings: ConsoleSettings
    sessions: ConsoleSessions
    live: LiveViews
    guard: Guard
    pages: Pages
    metrics: ConsoleMetrics
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    async def audit(self, actor: str, action: str, target: str, detail: str = "") -> None:
        """Append to the fleet's hash-chained audit log."""
        await self.app.audit(actor, action, target, detail)

    def later(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as its own task (what a closing stream must still write)."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for background writes (at shutdown, before the store closes)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def evidence(self, alert_id: str) -> tuple[bytes, EvidenceMeta] | None:
        """The alert's evidence JPEG and its metadata, if the fleet has the image."""
        return await self.app.store.get_alert_evidence(alert_id)

    async def evidence_states(self, alert_ids: list[str]) -> dict[str, tuple[str, str]]:
        """(state, reason) of each alert's evidence that has any: present, pending, unavailable.

        Metadata only (`evidence_meta`), never the images, so a list of alerts costs one read.
        """
        if not alert_ids:
            return {}
        metas = await self.app.store.evidence_meta(alert_ids)
        return {k: (m.state, m.reason) for k, m in metas.items()}

    def page(
        self, request: Request, caller: Caller, template: str, *, status: int = 200, **context: Any
    ) -> HTMLResponse:
        """A whole page with the navigation, the caller's name, role and CSRF token."""
        flash, caller.session.flash[:] = list(caller.session.flash), []
        self.metrics.requests.labels(template.removesuffix(".html"), str(status)).inc()
        return self.pages.html(
            template,
            status=status,
            nav=NAV,
            path=request.url.path,
            caller=caller,
            role=caller.principal.role.name.lower(),
            csrf=caller.session.csrf,
            flash=flash,
            **context,
        )

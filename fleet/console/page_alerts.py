"""Alerts: the live list, evidence images, and confirm/reject under the two-person rule.

Roles as over gRPC: viewers see alerts (WatchlistService.ListAlerts), operators decide
(DecideAlert), through the same `decide_alert` function, so the console cannot confirm what
the API would refuse. A refused decision (a second confirmation by the same person, an
alert already decided) is shown on the page with the reason and audited.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fleet.auth import Role
from fleet.console.context import Console
from fleet.console.feed import feed, start_cursor
from fleet.console.guard import Caller, RefusedError
from fleet.console.render import SECURITY_HEADERS
from fleet.console.streams import LiveResponse
from fleet.errors import NotFoundError, VersionConflictError
from fleet.services.watchlists import decide_alert
from fleet.store.records import EventFilter, StoredEvent
from fleet.watchlists.decisions import confirmations_needed
from fleet.watchlists.records import (
    CANDIDATE,
    CONFIRM,
    CONFIRMED,
    REJECT,
    REJECTED,
    AlertQuery,
    AlertRecord,
)
from fleet.watchlists.runtime import ALERT_EVENT
from proto.oko.v1 import events_pb2

ALERT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
STATES = {"all": "", "candidate": CANDIDATE, "confirmed": CONFIRMED, "rejected": REJECTED}
MAX_NOTE = 500


def alert_id_of(request: Request) -> str:
    """The path's alert id, refused unless it is an id."""
    alert_id = str(request.path_params["alert_id"])
    if not ALERT_ID.match(alert_id):
        raise RefusedError(400, f"{alert_id[:80]!r} is not an alert id")
    return alert_id


class AlertPages:
    """/alerts, its stream, evidence images and decisions."""

    def __init__(self, console: Console) -> None:
        self.c = console

    def routes(self) -> list[Route]:
        """The routes of this module."""
        return [
            Route("/alerts", self.index, methods=["GET"]),
            Route("/alerts/stream", self.stream, methods=["GET"]),
            Route("/alerts/{alert_id}/evidence.jpg", self.evidence, methods=["GET"]),
            Route("/alerts/{alert_id}/decide", self.decide, methods=["POST"]),
        ]

    async def _rows(self, caller: Caller, alerts: list[AlertRecord]) -> list[dict[str, object]]:
        states = await self.c.evidence_states([a.alert_id for a in alerts])
        return [
            {
                "alert": alert,
                "evidence": states.get(alert.alert_id, ("", ""))[0],
                "evidence_reason": states.get(alert.alert_id, ("", ""))[1],
                "needed": confirmations_needed(alert),
                "can_decide": caller.may(Role.OPERATOR),
            }
            for alert in alerts
        ]

    async def _page(
        self, request: Request, caller: Caller, status: int = 200, error: str = ""
    ) -> Response:
        state_name = request.query_params.get("state", "all")
        if state_name not in STATES:
            raise RefusedError(400, f"state must be one of {', '.join(STATES)}")
        cursor = await self.c.app.store.last_cursor()
        alerts = await self.c.app.store.list_alerts(
            AlertQuery(state=STATES[state_name], limit=self.c.settings.page_rows)
        )
        return self.c.page(
            request,
            caller,
            "alerts.html",
            status=status,
            rows=await self._rows(caller, alerts),
            states=list(STATES),
            state=state_name,
            cursor=cursor,
            error=error,
        )

    async def index(self, request: Request) -> Response:
        """The alerts page, newest first, with a live feed of new and decided alerts."""
        caller = await self.c.guard.caller(request, Role.VIEWER, "alerts")
        await self.c.audit(
            caller.name,
            "console.view",
            "alerts",
            f"state={request.query_params.get('state', 'all')}",
        )
        return await self._page(request, caller)

    async def stream(self, request: Request) -> Response:
        """Server-sent events: each new or changed alert as a rendered table row."""
        caller = await self.c.guard.caller(request, Role.VIEWER, "alerts stream")
        after = start_cursor(request, await self.c.app.store.last_cursor())
        if "last-event-id" not in request.headers:
            await self.c.audit(caller.name, "console.stream", "alerts", f"after {after}")

        async def render(page: list[StoredEvent]) -> list[tuple[int, str, str]]:
            out = []
            for stored in page:
                event = events_pb2.Event.FromString(stored.payload)
                alert_id = event.watchlist_alert.alert_id
                try:
                    alert = await self.c.app.store.get_alert(alert_id)
                except NotFoundError:  # purged since
                    continue
                (row,) = await self._rows(caller, [alert])
                html = self.c.pages.text("_alert_row.html", row=row, csrf=caller.session.csrf)
                out.append((stored.cursor, f"alert-{alert_id}", html))
            return out

        flt = EventFilter.of(types=[ALERT_EVENT])
        body = feed(self.c, caller, flt, after, render)
        return LiveResponse(body, "text/event-stream", self.c.closing)

    async def evidence(self, request: Request) -> Response:
        """The alert's evidence image (audited like any view of a face)."""
        caller = await self.c.guard.caller(request, Role.VIEWER, "alert evidence")
        alert_id = alert_id_of(request)
        found = await self.c.evidence(alert_id)
        if found is None:
            raise RefusedError(404, f"alert {alert_id} has no evidence image")
        sha256 = found[1].sha256
        await self.c.audit(
            caller.name, "evidence.view", alert_id, f"present sha256 {sha256} (console)"
        )
        headers = {**SECURITY_HEADERS, "content-disposition": "inline"}
        return Response(found[0], media_type="image/jpeg", headers=headers)

    async def decide(self, request: Request) -> Response:
        """Confirm or reject; a refusal is shown on the alerts page, with the reason."""
        caller, fields = await self.c.guard.form(request, Role.OPERATOR, "alert decision")
        alert_id = alert_id_of(request)
        kind = fields.get("kind", "")
        if kind not in (CONFIRM, REJECT):
            raise RefusedError(400, "kind must be confirm or reject")
        note = fields.get("note", "")[:MAX_NOTE]
        try:
            alert = await decide_alert(
                self.c.app,
                self.c.watchlists,
                caller.principal,
                alert_id=alert_id,
                kind=kind,
                note=note,
            )
        except VersionConflictError as err:
            await self.c.audit(caller.name, "console.refused", f"alert.{kind} {alert_id}", str(err))
            return await self._page(request, caller, status=409, error=str(err))
        except NotFoundError as err:
            raise RefusedError(404, str(err)) from None
        more = confirmations_needed(alert)
        then = f"{more} more confirmation needed" if more else f"it is now {alert.state}"
        caller.session.flash.append(
            f"You {kind}ed alert {alert_id} ({alert.subject_name}): {then}."
        )
        return RedirectResponse("/alerts", status_code=303)

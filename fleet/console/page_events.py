"""Events: the newest stored events and a live feed of new ones, as readable sentences."""

from __future__ import annotations

import urllib.parse

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fleet.auth import Role
from fleet.config import EVENT_TYPES
from fleet.console.context import Console
from fleet.console.feed import feed, start_cursor
from fleet.console.filters import EventParams
from fleet.console.streams import LiveResponse
from fleet.store.records import EventQuery, StoredEvent
from proto.event_text import describe
from proto.oko.v1 import events_pb2

RECENT = 50
LOOK_BACK = 2000  # cursors searched back for the page's first rows


def event_row(stored: StoredEvent) -> dict[str, object]:
    """What the row template shows of one stored event."""
    try:
        kind, detail = describe(events_pb2.Event.FromString(stored.payload))
        sentence = f"{kind.replace('_', ' ')}: {detail}" if detail else kind.replace("_", " ")
    except Exception:  # a stored payload we cannot read still gets its row
        sentence = "unreadable event"
    return {"e": stored, "sentence": sentence}


class EventPages:
    """/events and its stream."""

    def __init__(self, console: Console) -> None:
        self.c = console

    def routes(self) -> list[Route]:
        """The routes of this module."""
        return [
            Route("/events", self.index, methods=["GET"]),
            Route("/events/stream", self.stream, methods=["GET"]),
        ]

    async def index(self, request: Request) -> Response:
        """The newest events matching the filters, then live ones."""
        caller = await self.c.guard.caller(request, Role.VIEWER, "events")
        params = EventParams.of(request)
        await self.c.audit(
            caller.name, "console.view", "events", urllib.parse.urlencode(params.query())
        )
        store = self.c.app.store
        cursor = await store.last_cursor()
        recent = await store.read_events(
            EventQuery(
                filter=params.filter(), after_cursor=max(0, cursor - LOOK_BACK), limit=LOOK_BACK
            )
        )
        recent = [e for e in recent if e.cursor <= cursor][-RECENT:]
        return self.c.page(
            request,
            caller,
            "events.html",
            rows=[event_row(e) for e in reversed(recent)],
            cursor=cursor,
            params=params,
            types=sorted(EVENT_TYPES),
            query=urllib.parse.urlencode(params.query()),
        )

    async def stream(self, request: Request) -> Response:
        """Server-sent events: each new event as a rendered table row."""
        caller = await self.c.guard.caller(request, Role.VIEWER, "events stream")
        params = EventParams.of(request)
        after = start_cursor(request, await self.c.app.store.last_cursor())
        if "last-event-id" not in request.headers:
            await self.c.audit(caller.name, "console.stream", "events", f"after {after}")

        async def render(page: list[StoredEvent]) -> list[tuple[int, str, str]]:
            return [
                (
                    e.cursor,
                    f"event-{e.cursor}",
                    self.c.pages.text("_event_row.html", row=event_row(e)),
                )
                for e in page
            ]

        body = feed(self.c, caller, params.filter(), after, render)
        return LiveResponse(body, "text/event-stream", self.c.closing)

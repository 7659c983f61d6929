"""Server-sent events for the live lists (alerts, events), resuming by stream cursor.

Each message's `id:` is the event's store cursor. A browser that reconnects sends it back
as `Last-Event-ID`, and the feed continues right after it from the store
(`fleet.broadcast.follow`), so a dropped connection loses no row. A page starts its feed
at the cursor it was rendered at (`?after=`), so nothing between render and connect is
missed either.

The feed ends when the session's token is revoked or expires or the session reaches its
absolute end (the page then goes to the login page), and it keeps the session alive while
the page is open. Rows are rendered on the server by the page's own templates, so a row
that arrives live is escaped exactly like one that was rendered with the page. A client
far behind (many thousands of events) is sent the newest rows of each page and told how
many it skipped, instead of every row.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

from starlette.requests import Request

from fleet.broadcast import follow
from fleet.console.context import Console
from fleet.console.guard import Caller, RefusedError
from fleet.errors import UnauthenticatedError
from fleet.store.records import EventFilter, StoredEvent

log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
MAX_ROWS_PER_PAGE = 50
MAX_CURSOR = 2**63 - 1

#: Renders a page of events into (cursor, row id, html) rows; events it skips yield none.
Render = Callable[[list[StoredEvent]], Awaitable[list[tuple[int, str, str]]]]


def start_cursor(request: Request, current: int) -> int:
    """Last-Event-ID (a reconnect), else `?after=` (the page's cursor), else `current`."""
    for raw in (request.headers.get("last-event-id"), request.query_params.get("after")):
        if raw is None or raw == "":
            continue
        if not raw.isdigit() or int(raw) > MAX_CURSOR:
            raise RefusedError(400, "the stream cursor must be a whole number")
        return int(raw)
    return current


def message(event: str, data: object, cursor: int | None = None) -> bytes:
    """One server-sent event; `data` as one line of JSON."""
    head = f"id: {cursor}\n" if cursor is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def feed(
    console: Console, caller: Caller, flt: EventFilter, after: int, render: Render
) -> AsyncIterator[bytes]:
    """The stream body: rows from `after` on, keep-alives, and an `end` message."""
    queue: asyncio.Queue[list[StoredEvent]] = asyncio.Queue(maxsize=4)
    app = console.app

    async def pump() -> None:
        async for page in follow(app.store, app.broadcaster, flt, after):
            await queue.put(page)

    task = asyncio.get_running_loop().create_task(pump(), name="console-feed")
    session = caller.session
    ends_us = int(session.expires_s * 1e6)
    who = caller.principal
    if not who.expires_us or ends_us < who.expires_us:
        who = replace(who, expires_us=ends_us)
    try:
        yield b"retry: 2000\n\n"
        async with app.streams.guard(who):
            while True:
                try:
                    page = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    if task.done():  # the store failed under the follower
                        yield message("end", {"reason": "the event stream failed; reload"})
                        return
                    console.sessions.touch(session)
                    yield b": keep-alive\n\n"
                    continue
                console.sessions.touch(session)
                for chunk in await _rows(page, render):
                    yield chunk
    except UnauthenticatedError as err:
        yield message("end", {"reason": str(err), "login": "/login?reason=token"})
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _rows(page: list[StoredEvent], render: Render) -> list[bytes]:
    skipped = max(0, len(page) - MAX_ROWS_PER_PAGE)
    out = []
    if skipped:
        out.append(message("skipped", {"rows": skipped}, page[skipped - 1].cursor))
    for cursor, row_id, html in await render(page[skipped:]):
        out.append(message("row", {"id": row_id, "html": html}, cursor))
    if page and not out:  # nothing to show, but the cursor moved: resume after it
        out.append(message("cursor", {}, page[-1].cursor))
    return out

"""The console's ASGI application: routes of every page, static assets, refusals as pages."""

from __future__ import annotations

import logging

from prometheus_client import Counter
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from fleet.app import FleetApp
from fleet.console.context import Console, ConsoleMetrics
from fleet.console.guard import Guard, RefusedError
from fleet.console.live import LiveViews
from fleet.console.live_relay import LiveRelay
from fleet.console.page_alerts import AlertPages
from fleet.console.page_audit import AuditPages
from fleet.console.page_cameras import CameraPages
from fleet.console.page_counts import CountPages
from fleet.console.page_events import EventPages
from fleet.console.page_live import LivePages
from fleet.console.page_login import LoginPages
from fleet.console.render import SECURITY_HEADERS, STATIC, Pages
from fleet.console.sessions import ConsoleSessions
from fleet.store.records import Device
from fleet.watchlists.runtime import Watchlists
from proto.oko.v1 import console_pb2

log = logging.getLogger(__name__)
#: Paths read by scripts, not shown as pages: refusals are plain text there.
_MACHINE_SUFFIXES = ("/stream", "/frames", "/status", ".jpg")


def make_console(app: FleetApp, watchlists: Watchlists) -> Console:
    """The console's state on top of a running fleet (its live views hooked into the app)."""
    settings = app.settings.console
    registry = app.metrics.registry
    sessions = ConsoleSessions(
        settings.session_max_s, settings.session_idle_s, settings.max_sessions
    )
    live = LiveViews(app.sessions, settings, registry)
    relay = LiveRelay(app.replication, app.sessions, live, registry)

    async def take(device: Device, frame: console_pb2.LiveFrame) -> None:
        if live.get(frame.view_id) is None and await relay.forward(device.device_id, frame):
            return  # a view another replica's operator watches
        live.on_frame(device.device_id, frame)  # checked and counted there; never raises

    app.agent_messages["live_frame"] = take
    metrics = ConsoleMetrics(
        logins=Counter(
            "oko_fleet_console_logins", "Console logins by outcome", ["outcome"], registry=registry
        ),
        requests=Counter(
            "oko_fleet_console_pages",
            "Console pages served by page and status",
            ["page", "status"],
            registry=registry,
        ),
    )
    guard = Guard(sessions, app.access, app.audit)
    return Console(app, watchlists, settings, sessions, live, guard, Pages(), metrics)


def build_asgi(console: Console) -> Starlette:
    """Every route of the console."""
    routes: list[Route | Mount] = [Route("/", _home, methods=["GET"])]
    for pages in (
        LoginPages,
        AlertPages,
        EventPages,
        CameraPages,
        LivePages,
        CountPages,
        AuditPages,
    ):
        routes += pages(console).routes()
    routes.append(Mount("/static", app=StaticFiles(directory=STATIC), name="static"))

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RefusedError)
        machine = request.url.path.endswith(_MACHINE_SUFFIXES)
        if exc.login and request.method == "GET" and not machine:
            return RedirectResponse(f"/login?reason={exc.login}", status_code=303)
        if machine:
            return PlainTextResponse(exc.message, status_code=exc.status, headers=SECURITY_HEADERS)
        console.metrics.requests.labels("refused", str(exc.status)).inc()
        return console.pages.html(
            "error.html", status=exc.status, message=exc.message, login=bool(exc.login)
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=SECURITY_HEADERS)

    return Starlette(
        routes=routes, exception_handlers={RefusedError: refused, HTTPException: http_error}
    )


async def _home(request: Request) -> Response:
    return RedirectResponse("/alerts", status_code=303)

"""A live view of one camera: opened by an operator, shown as MJPEG while the page is open.

Opening needs the operator role and a form post (CSRF-checked); only the operator who
opened a view may watch, query or stop it. The box is asked for frames only while the
page's image is connected (`LiveViews.watch`); closing the page, the stop button, the
view's time limit or its box going away end it. Opening and ending are audited, the end
with how many frames were shown for how long.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from fleet.auth import Role
from fleet.console.context import Console
from fleet.console.filters import id_param
from fleet.console.guard import Caller, RefusedError
from fleet.console.live import LiveView
from fleet.console.render import SECURITY_HEADERS
from fleet.console.streams import LiveResponse
from fleet.errors import InvalidRequestError, NotFoundError

VIEW_ID = re.compile(r"^lv-[0-9a-f]{16}$")
BOUNDARY = b"oko-frame"


class LivePages:
    """/live: open, watch (page, frames, status) and stop live views."""

    def __init__(self, console: Console) -> None:
        self.c = console

    def routes(self) -> list[Route]:
        """The routes of this module."""
        return [
            Route("/live", self.open, methods=["POST"]),
            Route("/live/{view_id}", self.page, methods=["GET"]),
            Route("/live/{view_id}/frames", self.frames, methods=["GET"]),
            Route("/live/{view_id}/status", self.status, methods=["GET"]),
            Route("/live/{view_id}/stop", self.stop, methods=["POST"]),
        ]

    async def open(self, request: Request) -> Response:
        """Open a view of `device`/`camera` (form fields) and go to its page."""
        caller, fields = await self.c.guard.form(request, Role.OPERATOR, "live view")
        device_id = id_param(fields.get("device", ""), "device id")
        camera_id = id_param(fields.get("camera", ""), "camera id")
        if not (device_id and camera_id):
            raise RefusedError(400, "choose a box and a camera")
        device = await self.c.app.store.get_device(device_id)
        if device is None:
            raise RefusedError(404, f"no box {device_id!r}")
        try:
            view = self.c.live.open(device.device_id, camera_id, caller.principal)
        except (NotFoundError, InvalidRequestError) as err:
            raise RefusedError(409, str(err)) from None
        await self.c.audit(
            caller.name, "console.live.open", f"{device_id}/{camera_id}", view.view_id
        )
        return RedirectResponse(f"/live/{view.view_id}", status_code=303)

    async def _view(self, request: Request, what: str) -> tuple[Caller, LiveView]:
        caller = await self.c.guard.caller(request, Role.OPERATOR, what)
        view_id = str(request.path_params["view_id"])
        view = self.c.live.get(view_id) if VIEW_ID.match(view_id) else None
        if view is None:
            raise RefusedError(404, "no such live view (it ended; open a new one from Cameras)")
        if view.owner.token_id != caller.principal.token_id:
            raise RefusedError(403, "this live view was opened by another operator")
        return caller, view

    async def page(self, request: Request) -> Response:
        """The view's page: the picture, what the box says, a stop button."""
        caller, view = await self._view(request, "live view")
        device = await self.c.app.store.get_device(view.device_id)
        return self.c.page(request, caller, "live.html", view=view, device=device)

    async def status(self, request: Request) -> Response:
        """Frames, the box's error if any, and why the view ended (JSON for the page)."""
        _, view = await self._view(request, "live view status")
        return JSONResponse(view.status(), headers=SECURITY_HEADERS)

    async def stop(self, request: Request) -> Response:
        """End the view now."""
        caller, _ = await self.c.guard.form(request, Role.OPERATOR, "live view stop")
        _, view = await self._view(request, "live view stop")
        self.c.live.stop(view, f"stopped by {caller.name}")
        return RedirectResponse("/cameras", status_code=303)

    async def frames(self, request: Request) -> Response:
        """multipart/x-mixed-replace JPEGs: what an <img> shows as live video."""
        caller, view = await self._view(request, "live view frames")
        if view.watched or view.ended:
            raise RefusedError(409, view.ended or "this live view is already shown in another page")
        return LiveResponse(
            self._mjpeg(caller, view),
            f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}",
            self.c.closing,
        )

    async def _mjpeg(self, caller: Caller, view: LiveView) -> AsyncIterator[bytes]:
        started = time.monotonic()
        try:
            yield b"--" + BOUNDARY + b"\r\n"
            async for image in self.c.live.watch(view):
                self.c.sessions.touch(caller.session)
                head = f"Content-Type: image/jpeg\r\nContent-Length: {len(image.jpeg)}\r\n\r\n"
                yield head.encode() + image.jpeg + b"\r\n--" + BOUNDARY + b"\r\n"
        finally:
            self.c.live.stop(view, view.ended or "the page was closed")
            seconds = time.monotonic() - started
            detail = f"{view.view_id}: {view.frames} frames in {seconds:.0f} s; {view.ended}"
            self.c.later(
                self.c.audit(
                    caller.name, "console.live.close", f"{view.device_id}/{view.camera_id}", detail
                )
            )

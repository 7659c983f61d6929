"""Cameras: every camera of every box with its health, by site; live views are opened here.

The table refreshes itself every few seconds (`?fragment=1` returns just its rows, not
audited: the page view was). A camera is online when its box is connected, has been
heard from recently and says the camera streams.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fleet.auth import Role
from fleet.console.context import Console
from fleet.console.filters import site_param
from fleet.services.convert import DEVICE_OFFLINE_AFTER_US, device_status
from fleet.store.base import Store
from fleet.store.records import CameraStatus, Device, EventFilter, EventQuery
from proto.oko.v1 import events_pb2

REFRESH_S = 5


@dataclass
class CameraRow:
    """One camera as the table shows it."""

    device: Device
    box_status: str  # online | offline | revoked
    camera: CameraStatus
    online: bool
    models: tuple[str, ...] = ()  # as the camera's newest event names them

    @property
    def model(self) -> str:
        """Model names and versions: from the newest event, else what the box reported."""
        if self.models:
            return ", ".join(self.models)
        reported = self.device.reported
        if reported is None or not reported.detector_model:
            return "-"
        return f"{reported.detector_model} {reported.detector_version}".strip()


async def newest_models(store: Store, row: CameraRow) -> tuple[str, ...]:
    """The models named by the camera's newest event (one indexed read; () if none)."""
    at = row.camera.last_event_us
    if not at:
        return ()
    flt = EventFilter.of(
        camera_ids=[row.camera.health.camera_id], device_ids=[row.device.device_id]
    )
    page = await store.read_events(EventQuery(filter=flt, start_us=at, limit=1))
    if not page:
        return ()
    try:
        event = events_pb2.Event.FromString(page[0].payload)
    except Exception:  # unreadable stored bytes: show what the box reported instead
        return ()
    return tuple(f"{m.name} {m.version}".strip() for m in event.models[:4])


def camera_rows(
    devices: list[Device], cameras: list[CameraStatus], connected: set[str]
) -> list[CameraRow]:
    """Rows by site, box and camera; a box that reported no camera yet gets none."""
    now_us = time.time_ns() // 1000
    by_id = {d.device_id: d for d in devices}
    rows = []
    for cam in cameras:
        device = by_id.get(cam.device_id)
        if device is None:
            continue
        status = device_status(device, device.device_id in connected, now_us)
        fresh = now_us - cam.updated_us < DEVICE_OFFLINE_AFTER_US
        online = status == "online" and fresh and cam.health.online
        rows.append(CameraRow(device, status, cam, online))
    rows.sort(
        key=lambda r: (r.device.site, r.device.name, r.device.device_id, r.camera.health.camera_id)
    )
    return rows


class CameraPages:
    """/cameras (and its refreshing rows)."""

    def __init__(self, console: Console) -> None:
        self.c = console

    def routes(self) -> list[Route]:
        """The routes of this module."""
        return [Route("/cameras", self.index, methods=["GET"])]

    async def index(self, request: Request) -> Response:
        """Every camera, optionally of one site."""
        caller = await self.c.guard.caller(request, Role.VIEWER, "cameras")
        site = site_param(request.query_params.get("site", ""))
        fragment = request.query_params.get("fragment") == "1"
        store = self.c.app.store
        devices = await store.list_devices()
        sites = sorted({d.site for d in devices})
        if site:
            devices = [d for d in devices if d.site == site]
        cameras = await store.list_cameras(site=site)
        connected = {d.device_id for d in devices if self.c.app.replication.connected(d.device_id)}
        rows = camera_rows(devices, cameras, connected)
        for row in rows:
            row.models = await newest_models(store, row)
        silent = [d for d in devices if not any(r.device.device_id == d.device_id for r in rows)]
        can_view = caller.may(Role.OPERATOR)
        if fragment:
            return self.c.pages.html(
                "_camera_rows.html",
                rows=rows,
                silent=silent,
                can_view=can_view,
                csrf=caller.session.csrf,
            )
        await self.c.audit(caller.name, "console.view", "cameras", f"site={site!r}")
        return self.c.page(
            request,
            caller,
            "cameras.html",
            sites=sites,
            site=site,
            refresh_s=REFRESH_S,
            rows=rows,
            silent=silent,
            can_view=can_view,
        )

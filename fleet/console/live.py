"""Live views on demand: the fleet side of `proto/oko/v1/console.proto`.

An operator opens a view of one camera; while the page showing it is connected
(`LiveViews.watch`), the fleet asks the box over its Connect stream for frames (START, renewed
at a third of the lease) and hands each accepted frame to the page. When the page goes,
the view ends (STOP); if the fleet dies instead, the box's lease runs out by itself. Nothing
is asked of a box while no page watches.

Every frame a box sends is untrusted: it must belong to a view this box was asked for, name
that view's camera, be a well-formed JPEG within the byte and pixel bounds, and arrive no
faster than the view's rate allows. Anything else is dropped and counted by reason; a view
that keeps receiving bad frames is ended, and the box's stream (its events) goes on. The
check is a few comparisons and a walk over the JPEG's headers, run on the box's own
stream task, so one box's frames cost the others nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from fleet.admission import text_problem
from fleet.auth import Principal
from fleet.console.jpeg import JpegError, check_jpeg
from fleet.console.settings import ConsoleSettings
from fleet.errors import InvalidRequestError, NotFoundError
from fleet.sessions import SessionRegistry
from proto.oko.v1 import agent_pb2, console_pb2

log = logging.getLogger(__name__)

#: A view whose page has not connected within this is dropped (the page never loaded).
UNWATCHED_S = 30.0
#: Ended views stay this long so their page can still say why they ended.
KEEP_ENDED_S = 120.0
#: RefusedError frames a view tolerates before it is ended.
MAX_REFUSED = 25
_BURST = 3.0
_MAX_ERROR_CHARS = 256


class Elsewhere(Protocol):
    """Boxes connected to other replicas (fleet/console/live_relay.py)."""

    def connected(self, device_id: str) -> bool:
        """Whether the box has a stream on another replica."""
        ...

    def ask(self, device_id: str, request: console_pb2.LiveViewRequest) -> bool:
        """Send `request` to the box through its replica; False when it is nowhere."""
        ...


@dataclass(frozen=True)
class LiveImage:
    """One accepted frame."""

    jpeg: bytes
    width: int
    height: int
    capture_us: int
    tracks: int
    received_s: float


@dataclass(eq=False)
class LiveView:
    """One operator's view of one camera."""

    view_id: str
    device_id: str
    camera_id: str
    owner: Principal
    opened_s: float
    ends_s: float
    max_fps: float
    latest: LiveImage | None = None
    frames: int = 0
    refused: int = 0
    first_problem: str = ""
    box_error: str = ""
    ended: str = ""
    ended_s: float = 0.0
    watched: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _tokens: float = _BURST
    _tokens_s: float = 0.0

    def take_token(self, now: float) -> bool:
        """Token bucket: about 1.5 x the asked rate, bursts of 3 (network jitter)."""
        rate = self.max_fps * 1.5
        self._tokens = min(_BURST, self._tokens + (now - self._tokens_s) * rate)
        self._tokens_s = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def status(self) -> dict[str, object]:
        """What the live page shows beside the picture (JSON-able)."""
        latest = self.latest
        return {
            "view_id": self.view_id,
            "device_id": self.device_id,
            "camera_id": self.camera_id,
            "frames": self.frames,
            "refused": self.refused,
            "problem": self.first_problem,
            "box_error": self.box_error,
            "ended": self.ended,
            "capture_us": latest.capture_us if latest else 0,
            "width": latest.width if latest else 0,
            "height": latest.height if latest else 0,
            "tracks": latest.tracks if latest else 0,
            "seconds_left": max(0, round(self.ends_s - time.monotonic())),
        }


class LiveViews:
    """Every open live view of the fleet; `on_frame` is called by each box's stream."""

    def __init__(
        self, sessions: SessionRegistry, settings: ConsoleSettings, registry: CollectorRegistry
    ) -> None:
        self._sessions = sessions
        self.settings = settings
        self._views: dict[str, LiveView] = {}
        self.elsewhere: Elsewhere | None = None  # set by the relay when there are replicas
        self.frames = Counter(
            "oko_fleet_console_live_frames",
            "Live-view frames from boxes by outcome (accepted, or why refused)",
            ["outcome"],
            registry=registry,
        )
        self.open_views = Gauge(
            "oko_fleet_console_live_views", "Live views open (asked of boxes)", registry=registry
        )

    # -- operators' side ---------------------------------------------------------------
    def open(self, device_id: str, camera_id: str, owner: Principal) -> LiveView:
        """A new view (not yet streaming: that starts when its page connects to `watch`)."""
        self._prune(time.monotonic())
        if self._sessions.get(device_id) is None and not (
            self.elsewhere is not None and self.elsewhere.connected(device_id)
        ):
            raise NotFoundError(f"box {device_id!r} is not connected; no live view possible")
        active = [v for v in self._views.values() if not v.ended]
        s = self.settings
        if sum(v.device_id == device_id for v in active) >= s.live_views_per_box:
            raise InvalidRequestError(
                f"box {device_id!r} already has {s.live_views_per_box} live views open "
                "(console.live_views_per_box); close one first"
            )
        if len(active) >= s.live_views_total:
            raise InvalidRequestError(
                f"the fleet already has {s.live_views_total} live views open "
                "(console.live_views_total)"
            )
        now = time.monotonic()
        view = LiveView(
            view_id="lv-" + secrets.token_hex(8),
            device_id=device_id,
            camera_id=camera_id,
            owner=owner,
            opened_s=now,
            ends_s=now + s.live_max_s,
            max_fps=s.live_fps,
            _tokens_s=now,
        )
        self._views[view.view_id] = view
        self.open_views.set(sum(not v.ended for v in self._views.values()))
        return view

    def get(self, view_id: str) -> LiveView | None:
        """The view (also a recently ended one, so its page can say why), or None."""
        return self._views.get(view_id)

    def _prune(self, now: float) -> None:
        for view in list(self._views.values()):
            if view.ended and now - view.ended_s > KEEP_ENDED_S:
                del self._views[view.view_id]
            elif not view.ended and not view.watched and now - view.opened_s > UNWATCHED_S:
                self.stop(view, "the page never connected")

    def _request(self, view: LiveView, action: int) -> bool:
        """Send START or STOP to the view's box; False when the box is not connected."""
        s = self.settings
        request = console_pb2.LiveViewRequest(
            action=action,  # type: ignore[arg-type]
            view_id=view.view_id,
            camera_id=view.camera_id,
            max_fps=view.max_fps,
            lease_seconds=s.live_lease_s,
            max_width=s.live_max_width,
            max_bytes=s.live_max_bytes,
        )
        session = self._sessions.get(view.device_id)
        if session is not None:
            session.send(agent_pb2.FleetMessage(live_view=request))
            return True
        return self.elsewhere is not None and self.elsewhere.ask(view.device_id, request)

    def stop(self, view: LiveView, reason: str) -> None:
        """End the view now: the box is told to stop, the page is told why."""
        if view.ended:
            return
        view.ended, view.ended_s = reason, time.monotonic()
        self._request(view, console_pb2.LiveViewRequest.ACTION_STOP)
        view.changed.set()
        self.open_views.set(sum(not v.ended for v in self._views.values()))
        log.info(
            "live view %s of %s/%s ended: %s", view.view_id, view.device_id, view.camera_id, reason
        )

    async def watch(self, view: LiveView) -> AsyncIterator[LiveImage]:
        """Each new frame of the view while it lasts; the caller's page is the viewer.

        Asks the box (START), renews the lease at a third of it, and stops the view when
        the caller stops iterating (the page closed) or the view's time is up.
        """
        if view.watched or view.ended:
            raise InvalidRequestError(f"live view {view.view_id} is already watched or ended")
        view.watched = True
        renew_s = self.settings.live_lease_s / 3
        try:
            self._request(view, console_pb2.LiveViewRequest.ACTION_START)
            renewed = time.monotonic()
            shown = None
            while not view.ended:
                now = time.monotonic()
                if now >= view.ends_s:
                    self.stop(view, f"the view's time is up ({self.settings.live_max_s:.0f} s)")
                    break
                if now - renewed >= renew_s:
                    if not self._request(view, console_pb2.LiveViewRequest.ACTION_START):
                        view.box_error = "the box is not connected (waiting for it)"
                    renewed = now
                if view.latest is not None and view.latest is not shown:
                    shown = view.latest
                    yield shown
                    continue
                view.changed.clear()
                wait = max(0.01, min(renew_s - (now - renewed), view.ends_s - now))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(view.changed.wait(), wait)
        finally:
            self.stop(view, view.ended or "the page was closed")

    # -- boxes' side --------------------------------------------------------------------
    def on_frame(self, device_id: str, frame: console_pb2.LiveFrame) -> str:
        """Take a frame from box `device_id`: '' if accepted, else the reason (counted)."""
        view = self._views.get(frame.view_id)
        if view is None or view.device_id != device_id or view.ended:
            self.frames.labels("unsolicited").inc()
            return f"no open live view {frame.view_id[:40]!r} on this box"
        outcome, problem = self._problem(view, frame)
        self.frames.labels(outcome).inc()
        if not problem:
            return ""
        view.refused += 1
        if not view.first_problem:
            view.first_problem = problem
            log.warning("%s: live frame refused: %s", device_id, problem)
        if view.refused >= MAX_REFUSED:
            first = view.first_problem
            self.stop(view, f"the box sent {view.refused} invalid frames (first: {first})")
        view.changed.set()
        return problem

    def _problem(self, view: LiveView, frame: console_pb2.LiveFrame) -> tuple[str, str]:
        """(outcome label, reason) of a frame for an open view; reason '' = accepted."""
        now = time.monotonic()
        if frame.camera_id != view.camera_id:
            return "camera", f"frame names camera {frame.camera_id[:64]!r}, view is of another"
        if not view.take_token(now):
            return "rate", f"frames faster than the {view.max_fps:g} per second asked for"
        if frame.error:
            problem = text_problem("error", frame.error, _MAX_ERROR_CHARS)
            if not problem:
                view.box_error = frame.error
                view.changed.set()
            return ("error_text", problem) if problem else ("box_error", "")
        outcome, problem, image = self._image(frame, now)
        if image is not None:
            view.latest = image
            view.frames += 1
            view.box_error = ""
            view.changed.set()
        return outcome, problem

    def _image(self, frame: console_pb2.LiveFrame, now: float) -> tuple[str, str, LiveImage | None]:
        """The frame's picture, checked: (outcome, reason, image if accepted)."""
        limit = self.settings.live_max_bytes
        if not 0 < len(frame.jpeg) <= limit:
            return "size", f"jpeg has {len(frame.jpeg)} bytes, limit 1..{limit}", None
        width = self.settings.live_max_width
        try:
            info = check_jpeg(frame.jpeg, width, 2 * width)
        except JpegError as err:
            return "jpeg", f"jpeg refused: {err}", None
        if (info.width, info.height) != (frame.width, frame.height):
            said = f"{frame.width}x{frame.height}"
            return "jpeg", f"jpeg is {info.width}x{info.height}, frame says {said}", None
        stamp = frame.capture_time
        if not 0 <= stamp.nanos < 1_000_000_000 or stamp.seconds < 0:
            return "time", "capture_time is not a valid time", None
        capture_us = stamp.seconds * 1_000_000 + stamp.nanos // 1000
        image = LiveImage(
            frame.jpeg, info.width, info.height, capture_us, min(frame.tracks, 10_000), now
        )
        return "accepted", "", image

    def stop_all(self, reason: str) -> None:
        """End every view (the fleet is stopping)."""
        for view in list(self._views.values()):
            self.stop(view, reason)

    def end_device(self, device_id: str, reason: str) -> None:
        """End every view of a box (it was revoked)."""
        for view in list(self._views.values()):
            if view.device_id == device_id:
                self.stop(view, reason)

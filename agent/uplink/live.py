"""Live views on the box: what the fleet asked for (`LiveViewRequest`), lease by lease.

The fleet opens a view with START and renews it by sending START again; the box sends
frames only for views whose lease is running, so a fleet that went away (crashed, lost
its page) stops costing the box anything within one lease. Every value the fleet sends is
clamped to the box's own bounds, and at most `MAX_VIEWS` views run at once. No I/O and no
image work here: `agent.pipeline.live` draws and encodes the frames.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from proto.oko.v1 import console_pb2

log = logging.getLogger(__name__)

MIN_FPS, MAX_FPS = 0.2, 10.0
MIN_LEASE_S, MAX_LEASE_S = 1, 120
DEFAULT_WIDTH, MIN_WIDTH, MAX_WIDTH = 960, 160, 3840
DEFAULT_BYTES, MIN_BYTES, MAX_BYTES = 256 * 1024, 16 * 1024, 2 * 1024 * 1024
MAX_VIEWS = 8
MAX_ID_CHARS = 64
IDLE_WAIT_S = 3600.0

#: Draws one camera's latest frame: (camera id, max width, max bytes) -> frame (no view id).
LiveSource = Callable[[str, int, int], console_pb2.LiveFrame]


def _clamp(value: float, lo: float, hi: float, default: float) -> float:
    return default if not value else min(hi, max(lo, value))


@dataclass
class LiveLease:
    """One running view."""

    view_id: str
    camera_id: str
    interval_s: float
    max_width: int
    max_bytes: int
    until: float
    next_at: float
    last_key: tuple[int, int, str] | None = None  # (capture s, ns, error) of the last sent


class LiveViewer:
    """The views of one uplink session (a new session starts with none)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.views: dict[str, LiveLease] = {}
        self.changed = asyncio.Event()

    def request(self, req: console_pb2.LiveViewRequest) -> None:
        """Open, renew or stop a view as the fleet asks."""
        view_id = req.view_id
        if not 0 < len(view_id) <= MAX_ID_CHARS or not view_id.isprintable():
            log.warning("live view request without a usable view_id ignored")
            return
        if req.action == console_pb2.LiveViewRequest.ACTION_STOP:
            if self.views.pop(view_id, None) is not None:
                log.info("live view %s stopped by the fleet", view_id)
        elif req.action == console_pb2.LiveViewRequest.ACTION_START:
            self._start(req)
        self.changed.set()

    def _start(self, req: console_pb2.LiveViewRequest) -> None:
        now = self._clock()
        lease = _clamp(req.lease_seconds, MIN_LEASE_S, MAX_LEASE_S, 15)
        old = self.views.get(req.view_id)
        if old is not None and old.camera_id == req.camera_id:
            old.until = now + lease  # a renewal
            return
        if old is None and len(self.views) >= MAX_VIEWS:
            log.warning("live view %s refused: %d views already open", req.view_id, MAX_VIEWS)
            return
        fps = _clamp(req.max_fps, MIN_FPS, MAX_FPS, 2.0)
        self.views[req.view_id] = LiveLease(
            view_id=req.view_id,
            camera_id=req.camera_id[:MAX_ID_CHARS],
            interval_s=1.0 / fps,
            max_width=int(_clamp(req.max_width, MIN_WIDTH, MAX_WIDTH, DEFAULT_WIDTH)),
            max_bytes=int(_clamp(req.max_bytes, MIN_BYTES, MAX_BYTES, DEFAULT_BYTES)),
            until=now + lease,
            next_at=now,
        )
        log.info("live view %s of camera %r opened by the fleet", req.view_id, req.camera_id)

    def due(self) -> tuple[list[LiveLease], float]:
        """Views whose next frame is due now, and seconds until the next one is.

        Views whose lease ran out are dropped first.
        """
        now = self._clock()
        for view_id in [v.view_id for v in self.views.values() if v.until <= now]:
            log.info("live view %s lease ran out", view_id)
            del self.views[view_id]
        due = [v for v in self.views.values() if v.next_at <= now]
        for view in due:
            view.next_at = now + view.interval_s
        later = [v.next_at - now for v in self.views.values()]
        leases = [v.until - now for v in self.views.values()]
        return due, max(0.0, min([*later, *leases], default=IDLE_WAIT_S))

    def fresh(self, view: LiveLease, frame: console_pb2.LiveFrame) -> bool:
        """Whether `frame` differs from the last one sent for `view` (then it is sent)."""
        key = (frame.capture_time.seconds, frame.capture_time.nanos, frame.error)
        if key == view.last_key:
            return False
        view.last_key = key
        return True

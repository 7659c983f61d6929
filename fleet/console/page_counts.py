"""Counts and traffic: per line and zone, charts over a time window from the stored events."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from dataclasses import dataclass

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fleet.auth import Role
from fleet.console import charts
from fleet.console.context import Console
from fleet.console.counts import COUNT_TYPES, Counts, Window
from fleet.console.filters import id_param, int_param, site_param
from fleet.store.records import EventFilter, EventQuery

PAGE = 1000
MAX_BUCKETS = 240
_CONGESTION = ("unknown", "free", "moderate", "heavy", "jam")


@dataclass(frozen=True)
class Chart:
    """One chart of the page, under its heading."""

    heading: str
    svg: Markup
    note: str = ""


def build_charts(counts: Counts) -> list[Chart]:
    """Every chart of the page, lines first, then traffic intervals, then zones."""
    w = counts.window
    starts = w.starts()
    out: list[Chart] = []
    for (camera, line), s in sorted(counts.lines.items()):
        labels = "crossings by class: " + ", ".join(f"{k} {n}" for k, n in sorted(s.labels.items()))
        out.append(
            Chart(
                f"{camera} · line {line}",
                charts.bars(
                    "crossings per interval",
                    starts,
                    w.step_us,
                    [("in", s.count_in, "in"), ("out", s.count_out, "out")],
                ),
                labels,
            )
        )
    for (camera, line), t in sorted(counts.traffic.items()):
        flows = [
            ("in", [(p.at_us, p.count_in) for p in t.points], "in"),
            ("out", [(p.at_us, p.count_out) for p in t.points], "out"),
        ]
        out.append(
            Chart(
                f"{camera} · traffic on {line}",
                charts.lines("vehicles per box interval", w.start_us, w.end_us, flows),
            )
        )
        speed = [
            ("speed", [(p.at_us, p.speed_kmh) for p in t.points], "speed"),
            ("density", [(p.at_us, p.density_per_km) for p in t.points], "density"),
        ]
        out.append(
            Chart(
                f"{camera} · speed and density on {line}",
                charts.lines("km/h, vehicles/km", w.start_us, w.end_us, speed),
            )
        )
        levels = [("congestion", [(p.at_us, p.congestion) for p in t.points], "congestion")]
        last = _CONGESTION[t.points[-1].congestion % 5] if t.points else "unknown"
        out.append(
            Chart(
                f"{camera} · congestion on {line}",
                charts.lines("0 unknown, 1 free .. 4 jam", w.start_us, w.end_us, levels, step=True),
                f"latest: {last}",
            )
        )
    for (camera, zone), z in sorted(counts.zones.items()):
        out.append(
            Chart(
                f"{camera} · zone {zone} occupancy",
                charts.lines(
                    "objects inside",
                    w.start_us,
                    w.end_us,
                    [("occupancy", z.occupancy, "occupancy")],
                    step=True,
                ),
            )
        )
        out.append(
            Chart(
                f"{camera} · zone {zone} entries",
                charts.bars(
                    "entries per interval",
                    starts,
                    w.step_us,
                    [("entries", z.enters, "in")],
                ),
            )
        )
    return out


class CountPages:
    """/counts."""

    def __init__(self, console: Console) -> None:
        self.c = console

    def routes(self) -> list[Route]:
        """The routes of this module."""
        return [Route("/counts", self.index, methods=["GET"])]

    async def _read(self, flt: EventFilter, window: Window, counts: Counts) -> None:
        after, limit = 0, self.c.settings.counts_max_events
        while counts.events + counts.unreadable < limit:
            page = await self.c.app.store.read_events(
                EventQuery(
                    filter=flt,
                    after_cursor=after,
                    start_us=window.start_us,
                    end_us=window.end_us,
                    limit=PAGE,
                )
            )
            # Parsing is CPU work: a worker thread, so ingest and other pages go on meanwhile.
            await asyncio.to_thread(counts.add_all, page)
            if len(page) < PAGE:
                return
            after = page[-1].cursor
        counts.truncated = True

    async def index(self, request: Request) -> Response:
        """Charts of the last `minutes` (default 360) in intervals of `step` s (default auto).

        At most MAX_BUCKETS intervals: a finer step for a long window is widened.
        """
        caller = await self.c.guard.caller(request, Role.VIEWER, "counts")
        q = request.query_params
        site = site_param(q.get("site", ""))
        camera = id_param(q.get("camera", ""), "camera id")
        minutes = int_param(request, "minutes", 360, 1, 31 * 24 * 60)
        step_s = int_param(request, "step", 0, 0, 24 * 3600)
        if not step_s:
            step_s = max(10, minutes * 60 // 48)
        step_s = max(step_s, -(-minutes * 60 // MAX_BUCKETS))
        now_us = time.time_ns() // 1000
        step = step_s * 1_000_000
        end = (now_us // step + 1) * step
        window = Window(end - minutes * 60_000_000, end, step)
        flt = EventFilter.of(
            camera_ids=[camera] if camera else [], sites=[site] if site else [], types=COUNT_TYPES
        )
        query = {k: v for k, v in (("site", site), ("camera", camera)) if v}
        await self.c.audit(
            caller.name,
            "console.view",
            "counts",
            f"{urllib.parse.urlencode(query)} minutes={minutes} step={step_s}",
        )
        counts = Counts(window)
        await self._read(flt, window, counts)
        counts.finish()
        return self.c.page(
            request,
            caller,
            "counts.html",
            charts=build_charts(counts),
            counts=counts,
            site=site,
            camera=camera,
            minutes=minutes,
            step=step_s,
        )

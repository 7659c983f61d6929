"""Small SVG charts drawn on the server: bars per interval and lines over time.

Our own few lines instead of a charting library: the console ships every asset itself
(no CDN), the pages work without JavaScript, and every text in a chart goes through the
same HTML escaping as the rest of the page. Each bar and point carries a <title>, which
browsers show as a tooltip.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 170
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 8, 18, 22


def _clock(at_us: int) -> str:
    return dt.datetime.fromtimestamp(at_us / 1e6, dt.UTC).strftime("%H:%M")


def _nice_max(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1.0
    scale = 1.0
    while scale * 10 <= value:
        scale *= 10
    while scale > value:
        scale /= 10
    for step in (1, 2, 5, 10):
        if step * scale >= value:
            return step * scale
    return 10 * scale


def _frame(title: str, top: float, unit: str, start_us: int, end_us: int) -> list[str]:
    plot_w, bottom = WIDTH - _LEFT - _RIGHT, HEIGHT - _BOTTOM
    return [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text class="title" x="{_LEFT}" y="12">{escape(title)}</text>',
        f'<line class="axis" x1="{_LEFT}" y1="{bottom}" x2="{_LEFT + plot_w}" y2="{bottom}"/>',
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{bottom}"/>',
        f'<text class="tick" x="{_LEFT - 4}" y="{_TOP + 4}" text-anchor="end">'
        f"{top:g}{escape(unit)}</text>",
        f'<text class="tick" x="{_LEFT - 4}" y="{bottom}" text-anchor="end">0</text>',
        f'<text class="tick" x="{_LEFT}" y="{HEIGHT - 6}">{_clock(start_us)} UTC</text>',
        f'<text class="tick" x="{WIDTH - _RIGHT}" y="{HEIGHT - 6}" text-anchor="end">'
        f"{_clock(end_us)}</text>",
    ]


def bars(
    title: str,
    starts: Sequence[int],
    step_us: int,
    series: Sequence[tuple[str, Sequence[float], str]],
    unit: str = "",
) -> Markup:
    """Grouped bars: one group per interval, one bar per (name, values, css class)."""
    top = _nice_max(max((v for _, values, _ in series for v in values), default=0))
    end = (starts[-1] + step_us) if starts else 0
    out = _frame(title, top, unit, starts[0] if starts else 0, end)
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    group_w = plot_w / max(1, len(starts))
    bar_w = max(1.0, group_w * 0.8 / max(1, len(series)))
    for i, start in enumerate(starts):
        for j, (name, values, css) in enumerate(series):
            value = values[i]
            h = plot_h * value / top
            x = _LEFT + i * group_w + group_w * 0.1 + j * bar_w
            y = _TOP + plot_h - h
            out.append(
                f'<rect class="{escape(css)}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}"><title>{escape(name)} {value:g} at {_clock(start)}'
                "</title></rect>"
            )
    out.append(_legend([(name, css) for name, _, css in series]))
    out.append("</svg>")
    return Markup("".join(out))


def lines(
    title: str,
    start_us: int,
    end_us: int,
    series: Sequence[tuple[str, Sequence[tuple[int, float]], str]],
    *,
    unit: str = "",
    step: bool = False,
) -> Markup:
    """Lines over time: (name, [(at_us, value)], css class); `step` holds each value."""
    top = _nice_max(max((v for _, pts, _ in series for _, v in pts), default=0))
    out = _frame(title, top, unit, start_us, end_us)
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    span = max(1, end_us - start_us)

    def xy(at: int, value: float) -> tuple[float, float]:
        frac = min(1.0, max(0.0, (at - start_us) / span))
        return _LEFT + plot_w * frac, _TOP + plot_h - plot_h * value / top

    for name, points, css in series:
        coords: list[tuple[float, float]] = []
        for at, value in points:
            x, y = xy(at, value)
            if step and coords:
                coords.append((x, coords[-1][1]))
            coords.append((x, y))
        if step and coords:
            coords.append((_LEFT + plot_w, coords[-1][1]))
        if coords:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            out.append(f'<polyline class="{escape(css)}" points="{path}"/>')
        for at, value in points[-200:]:  # tooltips for the latest points only
            x, y = xy(at, value)
            out.append(
                f'<circle class="{escape(css)}" cx="{x:.1f}" cy="{y:.1f}" r="2">'
                f"<title>{escape(name)} {value:.1f}{escape(unit)} at {_clock(at)}</title>"
                "</circle>"
            )
    out.append(_legend([(name, css) for name, _, css in series]))
    out.append("</svg>")
    return Markup("".join(out))


def _legend(items: Sequence[tuple[str, str]]) -> str:
    parts = []
    x = WIDTH - _RIGHT - 110 * len(items)
    for name, css in items:
        parts.append(
            f'<rect class="{escape(css)}" x="{x}" y="4" width="10" height="10"/>'
            f'<text class="tick" x="{x + 14}" y="13">{escape(name)}</text>'
        )
        x += 110
    return "".join(parts)

"""Settings of the operations-centre console (`console` in the fleet's settings file)."""

from __future__ import annotations

from pydantic import Field

from agent.config import Section


class ConsoleSettings(Section):
    """Sessions, live views and page sizes of the web console (`oko-fleet serve --console`)."""

    session_max_s: float = Field(
        default=12 * 3600.0,
        ge=60,
        le=7 * 86_400,
        description="A console session ends this long after login, active or not (a shift "
        "and a half); it also ends when its API token expires or is revoked.",
    )
    session_idle_s: float = Field(
        default=30 * 60.0,
        ge=30,
        le=86_400,
        description="A session with no request for this long ends (an open live page "
        "keeps it alive).",
    )
    max_sessions: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Console sessions held at once; the oldest ends when a login exceeds it.",
    )
    live_fps: float = Field(
        default=4.0,
        gt=0,
        le=10,
        description="Frames per second a live view asks the box for.",
    )
    live_max_s: float = Field(
        default=600.0,
        ge=10,
        le=3600,
        description="A live view ends this long after it was opened; the operator opens "
        "it again to go on (nothing streams from a forgotten tab for ever).",
    )
    live_lease_s: int = Field(
        default=15,
        ge=3,
        le=120,
        description="The box stops a live view by itself unless the fleet renews it within "
        "this (the fleet renews at a third of it while the page is open).",
    )
    live_max_bytes: int = Field(
        default=256 * 1024,
        ge=16 * 1024,
        le=2 * 1024 * 1024,
        description="Largest live-view JPEG accepted from a box; larger frames are dropped.",
    )
    live_max_width: int = Field(
        default=960,
        ge=160,
        le=3840,
        description="Live-view frames are scaled down by the box to at most this width.",
    )
    live_views_per_box: int = Field(
        default=4,
        ge=1,
        le=32,
        description="Live views open at once on one box (each costs the box JPEG encoding).",
    )
    live_views_total: int = Field(
        default=64,
        ge=1,
        le=10_000,
        description="Live views open at once on the whole fleet.",
    )
    page_rows: int = Field(
        default=200,
        ge=10,
        le=5000,
        description="Rows of a listing page (alerts, audit entries, events).",
    )
    counts_max_events: int = Field(
        default=200_000,
        ge=1000,
        le=5_000_000,
        description="Stored events one counts page reads at most; a wider window says it "
        "was cut short.",
    )

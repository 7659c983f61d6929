"""Watchlist metrics, registered on the fleet's own registry (served at /metrics)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fleet.watchlists.gallery import Gallery
from fleet.watchlists.records import EmbedderKey

SEARCH_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


class WatchlistMetrics:
    """Counters of the matching path; every face event ends in exactly one outcome."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.searched = Counter(
            "oko_fleet_faces_searched", "Face events searched against watchlists", registry=r
        )
        self.no_gallery = Counter(
            "oko_fleet_faces_no_gallery",
            "Face events not matched: no gallery for their embedder name+version",
            registry=r,
        )
        self.unreadable = Counter(
            "oko_fleet_faces_unreadable",
            "Face events not matched: embedding dimensions differ from the gallery's",
            registry=r,
        )
        self.dropped = Counter(
            "oko_fleet_faces_match_dropped",
            "Face events not matched: the matching queue was full (fleet overloaded)",
            registry=r,
        )
        self.alerts = Counter(
            "oko_fleet_watchlist_alerts",
            "Candidate alerts raised (one per track+subject)",
            registry=r,
        )
        self.decisions = Counter(
            "oko_fleet_watchlist_decisions", "Alert decisions by kind", ["kind"], registry=r
        )
        self.search_seconds = Histogram(
            "oko_fleet_watchlist_search_seconds",
            "One face searched against one gallery",
            buckets=SEARCH_BUCKETS_S,
            registry=r,
        )
        self.gallery_templates = Gauge(
            "oko_fleet_watchlist_gallery_templates",
            "Templates per gallery (embedder name@version) and how it is searched (exact, ann)",
            ["embedder", "search"],
            registry=r,
        )

    def set_galleries(self, galleries: Mapping[EmbedderKey, Gallery]) -> None:
        """Publish the sizes of the galleries in use (embedder keys come from enrolment)."""
        self.gallery_templates.clear()
        for key, gallery in galleries.items():
            mode = "ann" if gallery.ann is not None else "exact"
            self.gallery_templates.labels(str(key), mode).set(len(gallery))

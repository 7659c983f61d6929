"""Vectorised plane geometry for the rules: all points of a frame at once."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


class Segment:
    """A directed segment start->end with per-point signed distance and extent."""

    def __init__(self, start: npt.ArrayLike, end: npt.ArrayLike) -> None:
        self.start = np.asarray(start, np.float64).reshape(2)
        self.end = np.asarray(end, np.float64).reshape(2)
        d = self.end - self.start
        self.length = float(np.hypot(*d))
        if self.length <= 0:
            raise ValueError("segment has zero length")
        self.unit = d / self.length
        # Right-hand normal in image coordinates (y down): positive = right of start->end.
        self.normal = np.array([-self.unit[1], self.unit[0]])

    def signed_distance(self, points: npt.ArrayLike) -> F64:
        """Pixels from the infinite line, > 0 on the right of start->end (image y down)."""
        p = np.asarray(points, np.float64).reshape(-1, 2)
        distance: F64 = (p - self.start) @ self.normal
        return distance

    def along(self, points: npt.ArrayLike) -> F64:
        """Position of each point's projection: 0 at start, 1 at end."""
        p = np.asarray(points, np.float64).reshape(-1, 2)
        return ((p - self.start) @ self.unit) / self.length

    def crossing_along(self, before: npt.ArrayLike, after: npt.ArrayLike) -> F64:
        """Where the motion before->after meets the infinite line, as `along` positions.

        Points on the same side give the projection of `after` (no intersection exists).
        """
        b = np.asarray(before, np.float64).reshape(-1, 2)
        a = np.asarray(after, np.float64).reshape(-1, 2)
        sb, sa = self.signed_distance(b), self.signed_distance(a)
        denom = sb - sa
        frac = np.where(np.abs(denom) > 1e-12, sb / np.where(denom == 0, 1, denom), 1.0)
        frac = np.clip(frac, 0.0, 1.0)
        return self.along(b + frac[:, None] * (a - b))


def points_in_polygon(points: npt.ArrayLike, polygon: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Even-odd rule for n points against one polygon, vectorised over points x edges."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    v = np.asarray(polygon, np.float64).reshape(-1, 2)
    if p.shape[0] == 0:
        return np.zeros(0, bool)
    x, y = p[:, 0:1], p[:, 1:2]
    x1, y1 = v[:, 0][None, :], v[:, 1][None, :]
    x2, y2 = np.roll(v[:, 0], -1)[None, :], np.roll(v[:, 1], -1)[None, :]
    straddles = (y1 > y) != (y2 > y)
    dy = np.where(y2 == y1, 1.0, y2 - y1)
    x_at = x1 + (y - y1) * (x2 - x1) / dy
    crossings = straddles & (x < x_at)
    return np.asarray(crossings.sum(axis=1) % 2 == 1)


def point_box_distance(points: npt.ArrayLike, boxes: npt.ArrayLike) -> F64:
    """Distance from each point (n, 2) to each box (m, 4) -> (n, m); 0 inside the box."""
    p = np.asarray(points, np.float64).reshape(-1, 2)[:, None, :]
    b = np.asarray(boxes, np.float64).reshape(-1, 4)[None, :, :]
    dx = np.maximum(np.maximum(b[..., 0] - p[..., 0], p[..., 0] - b[..., 2]), 0.0)
    dy = np.maximum(np.maximum(b[..., 1] - p[..., 1], p[..., 1] - b[..., 3]), 0.0)
    return np.asarray(np.hypot(dx, dy))

"""`StaticObjectDetector`: new things that arrived and stopped, whatever their class.

A detector trained on COCO does not call a holdall on CCTV a bag, so objects left behind
are found from pixels: two backgrounds of a small grey copy of the frame, a long-term one
(what the scene normally looks like) and a short-term one (what it looked like a second
ago). A pixel that differs from the long-term background but not from the short-term one
belongs to something that arrived and stopped; its first-seen time is when that began.
Connected regions of such pixels are reported as static objects with stable ids.

What is not an object left behind, and how it is kept out:

* what was there when the camera started (or re-learnt): it is the long-term background;
* lighting drift and auto exposure: the long-term background is compared after a global
  gain correction and follows slow drift wherever nothing stands in front of it;
* shadows: darker by a bounded factor with the background's texture still visible;
* a cut, a bumped camera, a sudden lighting change: too much of the picture differs, so
  both backgrounds are re-learnt and every object ends (`EndReason.RELEARNT`);
* ghosts (something that was in the background and left, e.g. a person standing at
  start-up who walked off): the region's outline has the edges in the background, not in
  the frame; it is written into the background at once;
* people: given their tracks' boxes, what stands under a person standing still is that
  person (left out of the regions), and nothing starts or stops being static under a
  track moving across the picture (a walker in front of a bag, whose clothes may match
  the floor, hides it for a moment; it does not take it away). Vehicles standing still:
  the abandoned rule drops regions covered by their tracks.

Pure: frames and capture times in, `StaticScene` out; no I/O, no detector.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt

from agent.config.analytics import StaticBackgroundConfig
from agent.detections import box_iou
from agent.motion.static_pixels import (
    changed_share,
    exposure_gain,
    follow,
    is_ghost,
    sobel_edges,
    texture_kept,
    uncovered_background,
)

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]
FloatImage = npt.NDArray[np.float32]

# Objects missing this long end; shorter gaps (a flicker, a passer-by) keep their id.
MISSING_GRACE_S = 1.0
MATCH_IOU = 0.3
LEARN_TAU_S = 0.5


class EndReason(StrEnum):
    """Why a static object stopped being reported (said on the stream as the alert's clearing)."""

    REMOVED = "removed"  # its pixels match the background again: taken away
    ABSORBED = "absorbed"  # static so long it became background
    RELEARNT = "relearnt"  # the whole scene changed; nothing is known any more


@dataclass(frozen=True)
class StaticObject:
    """A region that differs from the long-term background and has stopped changing.

    Attributes:
        object_id: stable while the region is seen (ids are never reused).
        box: x1, y1, x2, y2 in source pixels.
        first_seen: capture time its pixels first stood still.
        area_px: area of its pixel mask, in source pixels.
    """

    object_id: int
    box: Box
    first_seen: float
    area_px: float


@dataclass(frozen=True)
class EndedObject:
    """A static object that is gone from the scene, and why: the rule clears its alert."""

    object_id: int
    reason: EndReason


@dataclass(frozen=True)
class StaticScene:
    """One frame's static objects, and those that ended in it."""

    objects: tuple[StaticObject, ...] = ()
    ended: tuple[EndedObject, ...] = ()
    learning: bool = False  # warming up: nothing is reported
    relearnt: bool = False  # this frame re-learnt the scene


@dataclass
class _Tracked:
    box: npt.NDArray[np.float64]  # work pixels
    first_seen: float
    area: float  # work pixels
    last_seen: float


@dataclass
class _Models:
    long: FloatImage
    short: FloatImage
    since: npt.NDArray[np.float64]  # NaN: not static
    held: FloatImage  # what stood still there (exposure-corrected grey), where `since` is set
    learn_until: float
    last_t: float
    objects: dict[int, _Tracked] = field(default_factory=dict)


class StaticObjectDetector:
    """Dual-background static-object model of one camera (not thread-safe)."""

    def __init__(self, config: StaticBackgroundConfig) -> None:
        self.config = config
        self._m: _Models | None = None
        self._next_id = 1
        self._scale = (1.0, 1.0)  # source pixels per work pixel, x and y
        self._kernel = np.ones((3, 3), np.uint8)

    def reset(self) -> None:
        """Forget everything: the next frame starts a new warm-up."""
        self._m = None

    def update(
        self,
        image: np.ndarray,
        timestamp: float,
        occupied: np.ndarray | None = None,
        moving: np.ndarray | None = None,
        standing: np.ndarray | None = None,
    ) -> StaticScene:
        """Feed one frame (BGR or grey, any size) captured at `timestamp` (seconds).

        Boxes are (n, 4) in source pixels. `occupied`: every person and vehicle in this
        frame; nothing under them is written into the background as "uncovered" (a person
        in dark clothes standing on the litter on dark grass fits the grass better than
        the litter did). `moving`: those moving across the picture (default: all of
        `occupied`); under them no pixel starts or stops being static, since what shows
        there is the passer-by: a bag a walker crosses keeps its first-seen time, and one
        he puts down is seen from when he has moved off it. `standing`: people standing
        still; their pixels are that person, never an object, and what stays where they
        stood is seen from when they moved off (a bag put down at the feet of someone
        waiting is neither merged with him nor given the time he stopped).
        """
        grey = self._small(image)
        m = self._m
        if m is None or m.long.shape != grey.shape or timestamp < m.last_t:
            self._m = self._fresh(grey, timestamp)
            return StaticScene(learning=True)
        dt, m.last_t = timestamp - m.last_t, timestamp
        gain = exposure_gain(grey, m.long)
        ref = m.long * gain
        fg = self._foreground(grey, ref)
        changed = changed_share(fg, ref)
        if changed > self.config.relearn_fraction:
            return self._relearn(grey, timestamp, changed)
        busy = self._busy(grey.shape, occupied)
        passing = busy if moving is None else self._busy(grey.shape, moving)
        hidden = self._busy(grey.shape, standing)
        self._mark_static(grey / gain, grey, fg, passing, timestamp)
        m.since[hidden] = np.nan
        revealed = uncovered_background(
            grey, ref, fg, ~np.isnan(m.since), self.config.diff_threshold
        )
        revealed &= ~busy
        m.long[revealed] = grey[revealed] / gain
        m.since[revealed] = np.nan
        follow(m.short, grey, dt, self.config.short_term_seconds)
        follow(m.long, grey, dt, self.config.long_term_seconds, where=~fg)
        absorbed = self._absorb_old(grey, gain, timestamp)
        if timestamp < m.learn_until:
            return StaticScene(learning=True)
        return self._regions(grey, ref, gain, timestamp, absorbed, busy=busy)

    def _mark_static(
        self,
        level: FloatImage,
        grey: FloatImage,
        fg: npt.NDArray[np.bool_],
        passing: npt.NDArray[np.bool_],
        t: float,
    ) -> None:
        """Keep each pixel's first-seen time: when what stands there now stood still.

        A foreground pixel that matches the short-term background is static. It keeps its
        time while it shows the same thing (`held`, exposure-corrected); it starts again
        when another thing stands still there (a bag put down where someone's dark
        trousers stood), and ends where the background shows again. Under a track passing
        across the picture nothing starts, restarts or ends: what shows there is him.
        """
        assert self._m is not None
        m = self._m
        threshold = self.config.diff_threshold
        still = np.abs(grey - m.short) <= threshold
        other = np.isnan(m.since) | (np.abs(level - m.held) > threshold)
        new = fg & still & other & ~passing
        m.since[new] = t
        m.held[new] = level[new]
        m.since[~fg & ~passing] = np.nan

    def _busy(self, shape: tuple[int, ...], boxes: np.ndarray | None) -> npt.NDArray[np.bool_]:
        busy = np.zeros(shape, bool)
        if boxes is None:
            return busy
        sx, sy = self._scale
        for x1, y1, x2, y2 in np.asarray(boxes, np.float64).reshape(-1, 4):
            busy[
                max(int(y1 / sy), 0) : int(y2 / sy) + 1, max(int(x1 / sx), 0) : int(x2 / sx) + 1
            ] = True
        return busy

    # ----- models --------------------------------------------------------------------
    def _small(self, image: np.ndarray) -> FloatImage:
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        h, w = image.shape[:2]
        width = min(self.config.work_width, w)
        height = max(1, round(h * width / w))
        self._scale = (w / width, h / height)
        small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        return np.asarray(cv2.GaussianBlur(small, (3, 3), 0), np.float32)

    def _fresh(self, grey: FloatImage, t: float) -> _Models:
        return _Models(
            grey.copy(),
            grey.copy(),
            np.full(grey.shape, np.nan),
            np.zeros_like(grey),
            t + self.config.warmup_seconds,
            t,
        )

    def _relearn(self, grey: FloatImage, t: float, share: float) -> StaticScene:
        assert self._m is not None
        ended = tuple(EndedObject(i, EndReason.RELEARNT) for i in self._m.objects)
        log.info("static objects: %.0f%% of the picture changed; re-learning", 100 * share)
        self._m = self._fresh(grey, t)
        return StaticScene(ended=ended, learning=True, relearnt=True)

    def _foreground(self, grey: FloatImage, ref: FloatImage) -> npt.NDArray[np.bool_]:
        """Pixels unlike the (exposure-corrected) long-term background, shadows excepted."""
        differs: npt.NDArray[np.bool_] = np.abs(grey - ref) > self.config.diff_threshold
        low, high = self.config.shadow_ratio
        ratio = (grey / np.maximum(ref, 1.0)).astype(np.float32)
        darker = differs & (ratio >= low) & (ratio <= high)
        if darker.any():
            differs &= ~(darker & texture_kept(grey, ref, ratio))
        return differs

    def _absorb_old(self, grey: FloatImage, gain: float, t: float) -> npt.NDArray[np.bool_]:
        """Pixels static for `absorb_seconds` become background."""
        assert self._m is not None
        m = self._m
        with np.errstate(invalid="ignore"):
            old = (t - m.since) >= self.config.absorb_seconds
        if old.any():
            m.long[old] = grey[old] / gain
            m.since[old] = np.nan
        return old

    # ----- regions -------------------------------------------------------------------
    def _regions(
        self,
        grey: FloatImage,
        ref: FloatImage,
        gain: float,
        t: float,
        absorbed: npt.NDArray[np.bool_],
        *,
        busy: npt.NDArray[np.bool_],
    ) -> StaticScene:
        assert self._m is not None
        m = self._m
        with np.errstate(invalid="ignore"):
            settled = ((t - m.since) >= self.config.settle_seconds).astype(np.uint8)
        closed = cv2.morphologyEx(settled, cv2.MORPH_CLOSE, self._kernel)
        static = cv2.morphologyEx(closed, cv2.MORPH_OPEN, self._kernel)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(static, connectivity=8)
        px = self._scale[0] * self._scale[1]
        limit = self.config.max_area_fraction * grey.size
        seen: dict[int, _Tracked] = {}
        edges: tuple[FloatImage, FloatImage] | None = None
        for k in range(1, count):
            area = float(stats[k, cv2.CC_STAT_AREA])
            if area * px < self.config.min_area_px or area > limit:
                continue
            x, y, w, h = (int(v) for v in stats[k, :4])
            box = np.array([x, y, x + w, y + h], np.float64)
            mask = labels == k
            edges = edges or (sobel_edges(grey), sobel_edges(ref))
            if busy[mask].mean() < 0.5 and is_ghost(mask, *edges):
                m.long[mask] = grey[mask] / gain
                m.since[mask] = np.nan
                continue
            if float(np.abs(grey - ref)[mask].mean()) < self.config.min_contrast:
                continue  # faint: barrier tape in the wind, a damp patch, blur at an edge
            match = self._match(box, seen)
            if match is None:
                first = float(np.nanpercentile(m.since[mask], 10))
                seen[self._new_id()] = _Tracked(box, first, area, t)
            else:
                item = m.objects[match]
                item.box, item.area, item.last_seen = box, area, t
                seen[match] = item
        return self._scene(seen, t, absorbed)

    def _match(self, box: npt.NDArray[np.float64], taken: dict[int, _Tracked]) -> int | None:
        assert self._m is not None
        free = [i for i in self._m.objects if i not in taken]
        if not free:
            return None
        boxes = np.array([self._m.objects[i].box for i in free], np.float32)
        iou = box_iou(box[None, :].astype(np.float32), boxes)[0]
        best = int(iou.argmax())
        return free[best] if iou[best] >= MATCH_IOU else None

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _scene(
        self, seen: dict[int, _Tracked], t: float, absorbed: npt.NDArray[np.bool_]
    ) -> StaticScene:
        assert self._m is not None
        m = self._m
        ended = []
        for i, item in m.objects.items():
            if i in seen:
                continue
            if t - item.last_seen <= MISSING_GRACE_S:
                seen[i] = item
                continue
            x1, y1, x2, y2 = item.box.astype(int)
            gone_into_bg = absorbed[y1:y2, x1:x2].mean() > 0.5 if absorbed.any() else False
            ended.append(EndedObject(i, EndReason.ABSORBED if gone_into_bg else EndReason.REMOVED))
        m.objects = dict(sorted(seen.items()))
        px = self._scale[0] * self._scale[1]
        objects = tuple(
            StaticObject(i, self._source_box(item.box), item.first_seen, item.area * px)
            for i, item in m.objects.items()
            if item.last_seen == t
        )
        return StaticScene(objects, tuple(ended))

    def _source_box(self, box: npt.NDArray[np.float64]) -> Box:
        """Work-pixel box -> source pixels, one work pixel wider on each side.

        The blur and the opening eat about that much of an object's rim.
        """
        assert self._m is not None
        h, w = self._m.long.shape
        x1, y1 = max(box[0] - 1, 0), max(box[1] - 1, 0)
        x2, y2 = min(box[2] + 1, w), min(box[3] + 1, h)
        sx, sy = self._scale
        return (float(x1 * sx), float(y1 * sy), float(x2 * sx), float(y2 * sy))

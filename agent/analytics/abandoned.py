"""`AbandonedObjectDetector`: something new stays put while whoever left it is away.

Objects come from the class-agnostic static-object model (`agent.motion.static_objects`),
because no detector available here recognises a bag at CCTV scale. On top of it:

* a static region covered by a person or vehicle track that is itself standing still is
  that person or vehicle: it cannot alert, and being covered so counts as being attended.
  A track moving across the region is someone walking past in front of (or over) the
  object: it neither hides the object from the rule nor attends it;
* the owner is the person track that was at the object when its pixels first stood still
  (looked up in a short history of person boxes, within ``owner_radius_scale`` object
  sides), the nearest on the ground: feet to the object's bottom, since a box that merely
  overlaps the object in the picture may be someone walking past in front of it.
  Something that appeared with nobody at it - barrier tape the wind moved, a puddle, a
  shadow - has no owner and, by default (``require_owner``), never alerts;
* the object is unattended while its owner is farther than ``radius_scale`` object sides
  (the radius follows perspective) or has no track; passers-by do not attend it. The clock
  starts when the owner was last within the radius, looked up in the history when the
  static model first reports the object (which can be seconds after it was put down). A
  tracker id switch on an owner standing by the bag starts the clock (the price of not
  letting every passer-by reset it);
* it alerts once when static for ``stationary_seconds`` and unattended for
  ``unattended_seconds``; never again for the same object, even if the static model loses
  it for a moment and finds it again under a new id at the same place;
* an alerted object gone for ``clear_seconds`` is reported cleared (taken away);
* a detection of one of ``classes`` (backpack, ...) on the object names it and raises the
  alert's confidence; without one the label is "object".
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agent.analytics.common import class_ids, label_of, rule_rows
from agent.analytics.geometry import point_box_distance
from agent.config.analytics import AbandonedConfig
from agent.detections import NO_TRACK, Detections, box_iou
from agent.events.types import Abandoned, AbandonedCleared, AnalyticsEvent, Box, EventKind
from agent.motion.static_objects import EndReason, StaticObject, StaticObjectDetector, StaticScene

log = logging.getLogger(__name__)

RULE_ID = "abandoned"
UNNAMED = "object"
# Static-object ids are their own sequence; offset so they never look like person tracks.
OBJECT_ID_BASE = 1_000_000_000
# Confidence of a class-agnostic alert, and how much a bag-class detection adds (x score).
BASE_CONFIDENCE = 0.5
LABEL_WEIGHT = 0.5
LABEL_IOU = 0.3  # a detection this much overlapping the object names it
SAME_PLACE_IOU = 0.3  # a new static region here continues a missing object
HIDDEN_SHARE = 0.3  # an alerted object's place this much behind people: not known gone
HISTORY_SECONDS = 30.0  # person boxes kept to find who was there when an object appeared
LOOKBACK_S, LOOKAHEAD_S = 3.0, 1.0  # owner candidates: around the first-seen time
# A track stands still when its box overlapped each of its boxes of the last
# `background.settle_seconds` (the time pixels must keep still to become a static region:
# a track that moved in that time cannot be the region) by at least STILL_IOU. A walker,
# even one strolling, moves off his own box in that time; a standing person's box
# jitters, even half hidden behind a sign. A track younger than that counts as still:
# what it does is not known yet, and the safe reading of a person on a static region is
# that the region is the person.
STILL_IOU = 0.5


@dataclass
class _Item:
    box: Box
    first_seen: float
    owner: int
    last_attended: float
    last_seen: float
    reported: float  # when the rule first saw it
    label: str = UNNAMED
    label_score: float = 0.0
    alerted_at: float | None = None


@dataclass(frozen=True)
class _People:
    """Person and vehicle tracks of one frame."""

    t: float
    ids: npt.NDArray[np.int64]
    boxes: npt.NDArray[np.float64]  # persons (n, 4)
    blocker_ids: npt.NDArray[np.int64]  # persons and vehicles (m,)
    blockers: npt.NDArray[np.float64]  # persons and vehicles (m, 4)
    still: npt.NDArray[np.bool_]  # (m,) blockers standing still (see STILL_IOU)
    is_person: npt.NDArray[np.bool_]  # (m,) which blockers are persons


class AbandonedObjectDetector:
    """Alerts on new static objects left unattended; clears them when taken away."""

    def __init__(self, config: AbandonedConfig, labels: Sequence[str]) -> None:
        self.config = config
        self.labels = tuple(labels)
        self._named = class_ids(config.classes, self.labels, "abandoned.classes")
        self._people = class_ids(config.person_classes, self.labels, "abandoned.person_classes")
        self._vehicles = class_ids(config.vehicle_classes, self.labels, "abandoned.vehicle_classes")
        self.static = StaticObjectDetector(config.background)
        self._items: dict[int, _Item] = {}
        self._live: set[int] = set()  # ids the static model reports this frame
        self._history: deque[_People] = deque()
        self._scene: StaticScene | None = None  # the static model's last answer
        self._scene_t = 0.0
        self.static_runs = 0  # static-model updates (fewer than frames while nothing moves)

    def owner_of(self, object_id: int) -> int | None:
        """Person track remembered as having left the object (NO_TRACK if none)."""
        item = self._items.get(object_id)
        return None if item is None else item.owner

    def update(
        self,
        detections: Detections,
        timestamp: float,
        frame: np.ndarray | None = None,
        raw: Detections | None = None,
        *,
        motion: bool = True,
        predicted: bool = False,
    ) -> list[AnalyticsEvent]:
        """ABANDONED / ABANDONED_CLEARED events for this frame.

        `detections` are the confirmed tracks; `frame` (BGR) feeds the static-object model
        (without it no object is seen this frame); `raw`, the detector's output before
        tracking, names objects (bag classes rarely score high enough to become tracks).
        `motion` false (the gate saw nothing move): the static model runs at most every
        `background.idle_interval_s` and its last objects stand in between; the rule's
        own clocks still run on every frame. `predicted` (tracks predicted for a frame the
        detector skipped) changes nothing here: predicted people stand where they are
        expected, and objects are found in pixels, not in the tracks.
        Details: `Abandoned`, `AbandonedCleared` (owner, stationary and unattended seconds;
        how long the alert stood).
        """
        people = self._tracks(detections, timestamp)
        scene = None
        if frame is not None:
            scene = self._static_scene(frame, timestamp, people, motion)
        return self._observe(scene, people, timestamp, raw)

    def _static_scene(
        self, frame: np.ndarray, timestamp: float, people: _People, motion: bool
    ) -> StaticScene:
        idle = self.config.background.idle_interval_s
        last = self._scene
        if (
            not motion
            and last is not None
            and 0 <= timestamp - self._scene_t < idle - 1e-3  # slack: frame times jitter
        ):
            return StaticScene(last.objects, learning=last.learning)
        moving = people.blockers[~people.still]
        standing = people.blockers[people.still & people.is_person]
        self._scene = self.static.update(frame, timestamp, people.blockers, moving, standing)
        self._scene_t = timestamp
        self.static_runs += 1
        return self._scene

    def observe(
        self,
        scene: StaticScene | None,
        detections: Detections,
        timestamp: float,
        raw: Detections | None = None,
    ) -> list[AnalyticsEvent]:
        """The rule itself, on a static scene already computed (None: no frame this time)."""
        return self._observe(scene, self._tracks(detections, timestamp), timestamp, raw)

    def _observe(
        self, scene: StaticScene | None, people: _People, timestamp: float, raw: Detections | None
    ) -> list[AnalyticsEvent]:
        events: list[AnalyticsEvent] = []
        if scene is not None:
            self._forget_ended(scene)
            for obj in scene.objects:
                event = self._step(obj, people, raw, timestamp)
                if event is not None:
                    events.append(event)
        events += self._missing(scene, people, timestamp)
        return events

    # ----- people --------------------------------------------------------------------
    def _tracks(self, detections: Detections, now: float) -> _People:
        persons = np.flatnonzero(rule_rows(detections, self._people))
        blockers = np.flatnonzero(rule_rows(detections, np.union1d(self._people, self._vehicles)))
        while self._history and now - self._history[0].t > HISTORY_SECONDS:
            self._history.popleft()
        ids = detections.tracker_id[blockers].astype(np.int64)
        boxes = detections.xyxy[blockers].astype(np.float64)
        people = _People(
            now,
            detections.tracker_id[persons].astype(np.int64),
            detections.xyxy[persons].astype(np.float64),
            ids,
            boxes,
            self._standing(now, ids, boxes),
            np.isin(detections.class_id[blockers], self._people),
        )
        self._history.append(people)
        return people

    def _standing(
        self, now: float, ids: npt.NDArray[np.int64], boxes: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.bool_]:
        """Which of these person and vehicle tracks stand still (see STILL_IOU)."""
        window = self.config.background.settle_seconds
        still = np.ones(len(ids), bool)
        if not still.size:
            return still
        known = np.zeros_like(still)
        for past in reversed(self._history):
            if now - past.t > window:
                break
            rows, cols = np.nonzero(ids[:, None] == past.blocker_ids[None, :])
            overlap = _pair_iou(boxes[rows], past.blockers[cols])
            still[rows[overlap < STILL_IOU]] = False
            if now - past.t >= 0.75 * window:
                known[rows] = True
        return still | ~known

    def _owner_at(self, box: Box, when: float) -> int:
        """The person who was at the object around the time it appeared, if any.

        Whoever puts a bag down touches it just before its pixels stand still, so the
        window looks a little back. Candidates are the person boxes within the owner
        radius of the object; of those the owner is the one whose feet came nearest the
        object's bottom (on the ground, where it was put down): a walker passing in front
        overlaps it in the picture with his head and shoulders, his feet far below.
        """
        centre, side = _centre_side(box)
        bottom = np.array([(box[0] + box[2]) / 2, box[3]])
        best, owner = np.inf, NO_TRACK
        radius = self.config.owner_radius_scale * side
        for seen in self._history:
            if not seen.ids.size or not when - LOOKBACK_S <= seen.t <= when + LOOKAHEAD_S:
                continue
            near = point_box_distance(centre, seen.boxes)[0] <= radius
            ground = np.where(near, np.hypot(*(_feet(seen.boxes) - bottom).T), np.inf)
            k = int(ground.argmin())
            if ground[k] < best:
                best, owner = float(ground[k]), int(seen.ids[k])
        return owner

    def _last_with_owner(self, item: _Item) -> float:
        """When the owner was last within the attending radius (else the first-seen time).

        The unattended clock of a newly reported object starts there: the static model
        may report an object seconds after its pixels stood still (a walker passing in
        front of it right after it was put down delays that), and the owner's absence
        before that is known from the history.
        """
        for seen in reversed(self._history):
            if seen.t < item.first_seen:
                break
            if self._attended(item, seen):
                return seen.t
        return item.first_seen

    # ----- objects -------------------------------------------------------------------
    def _step(
        self, obj: StaticObject, people: _People, raw: Detections | None, now: float
    ) -> AnalyticsEvent | None:
        cfg = self.config
        oid = OBJECT_ID_BASE + obj.object_id
        item = self._items.get(oid) or self._continue(oid, obj)
        if item is None:
            owner = self._owner_at(obj.box, obj.first_seen)
            item = self._items[oid] = _Item(obj.box, obj.first_seen, owner, now, now, now)
            item.last_attended = self._last_with_owner(item)
            log.debug("abandoned: object %s at %s, owner %s", oid, obj.box, owner)
        item.box, item.last_seen = obj.box, now
        self._name(item, raw)
        # Only a track standing still on the region is the region (a person or vehicle
        # stopped there); one moving across it walks past the object.
        on_it = _cover_shares(obj.box, people.blockers) >= cfg.cover_fraction
        standing = bool((on_it & people.still).any())
        if standing or self._attended(item, people):
            item.last_attended = now
        if item.alerted_at is not None or standing:
            return None
        if cfg.require_owner and item.owner == NO_TRACK:
            return None
        if now - item.first_seen < cfg.stationary_seconds:
            return None
        if now - item.reported < cfg.background.settle_seconds:
            return None  # watched a moment at least: a region flickering into being waits
        if now - item.last_attended < cfg.unattended_seconds:
            return None
        item.alerted_at = now
        log.info("abandoned %s (object %s, owner %s) at %s", item.label, oid, item.owner, item.box)
        return self._event(EventKind.ABANDONED, oid, item, now)

    def _continue(self, oid: int, obj: StaticObject) -> _Item | None:
        """A region found again where a missing object stood is that object."""
        for old, item in self._items.items():
            if old in self._live:
                continue
            if box_iou(np.array([obj.box]), np.array([item.box]))[0, 0] >= SAME_PLACE_IOU:
                log.debug("abandoned: object %s continues %s", oid, old)
                self._items[oid] = self._items.pop(old)
                return self._items[oid]
        return None

    def _attended(self, item: _Item, people: _People) -> bool:
        """The owner is within the radius (passers-by do not attend someone's bag)."""
        mine = people.ids == item.owner
        if item.owner == NO_TRACK or not mine.any():
            return False
        centre, side = _centre_side(item.box)
        dist = point_box_distance(centre, people.boxes[mine])[0]
        return bool((dist <= self.config.radius_scale * side).any())

    def _name(self, item: _Item, raw: Detections | None) -> None:
        if raw is None or not len(raw) or not self._named.size:
            return
        rows = np.flatnonzero(np.isin(raw.class_id, self._named))
        if not rows.size:
            return
        iou = box_iou(raw.xyxy[rows], np.array([item.box]))[:, 0]
        on = rows[iou >= LABEL_IOU]
        if on.size:
            best = on[int(raw.confidence[on].argmax())]
            score = float(raw.confidence[best])
            if score > item.label_score:
                item.label = label_of(self.labels, int(raw.class_id[best]))
                item.label_score = score

    # ----- ending --------------------------------------------------------------------
    def _forget_ended(self, scene: StaticScene) -> None:
        """Objects the static model stopped watching for good (absorbed, re-learnt)."""
        self._live = {OBJECT_ID_BASE + o.object_id for o in scene.objects}
        for end in scene.ended:
            oid = OBJECT_ID_BASE + end.object_id
            if end.reason is EndReason.REMOVED or oid not in self._items:
                continue
            item = self._items.pop(oid)
            if item.alerted_at is not None:
                log.warning(
                    "abandoned: alerted object %s no longer watched (%s)", oid, end.reason.value
                )

    def _missing(
        self, scene: StaticScene | None, people: _People, now: float
    ) -> list[AnalyticsEvent]:
        """Objects the static model no longer reports, forgotten after `clear_seconds`.

        An alerted one is cleared only once its place is seen empty: while people or
        vehicles cover HIDDEN_SHARE of it (a couple strolling in front of the bag), nobody
        can tell whether it is still behind them, and the clear clock waits. Objects not
        alerted yet are forgotten as before: what a person's track now covers may well
        have been that person.
        """
        if scene is None:
            return []
        events = []
        for oid in [k for k, it in self._items.items() if it.last_seen < now]:
            item = self._items[oid]
            hidden = _union_cover(item.box, people.blockers) >= HIDDEN_SHARE
            if item.alerted_at is not None and hidden:
                item.last_seen = now
                continue
            if now - item.last_seen < self.config.clear_seconds:
                continue
            del self._items[oid]
            if item.alerted_at is not None:
                log.info("abandoned %s (object %s) cleared", item.label, oid)
                events.append(self._event(EventKind.ABANDONED_CLEARED, oid, item, now))
        return events

    def _event(self, kind: EventKind, oid: int, item: _Item, now: float) -> AnalyticsEvent:
        facts = (item.owner, now - item.first_seen, now - item.last_attended)
        detail: Abandoned | AbandonedCleared = (
            AbandonedCleared(*facts, alerted_seconds=now - (item.alerted_at or now))
            if kind is EventKind.ABANDONED_CLEARED
            else Abandoned(*facts)
        )
        confidence = BASE_CONFIDENCE + LABEL_WEIGHT * item.label_score
        return AnalyticsEvent(detail, RULE_ID, now, oid, item.label, item.box, confidence)


def _centre_side(box: Box) -> tuple[npt.NDArray[np.float64], float]:
    x1, y1, x2, y2 = box
    return np.array([[(x1 + x2) / 2, (y1 + y2) / 2]]), max(x2 - x1, y2 - y1, 1.0)


def _feet(boxes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Bottom centres (n, 2): where each box stands on the ground."""
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], axis=1)


def _union_cover(box: Box, blockers: npt.NDArray[np.float64], grid: int = 8) -> float:
    """Share of `box` inside the union of `blockers`, sampled on a `grid` x `grid` lattice."""
    if not blockers.size:
        return 0.0
    x1, y1, x2, y2 = box
    xs = x1 + (np.arange(grid) + 0.5) * (x2 - x1) / grid
    ys = y1 + (np.arange(grid) + 0.5) * (y2 - y1) / grid
    px, py = (a.reshape(-1, 1) for a in np.meshgrid(xs, ys))
    b = blockers
    inside = (px >= b[:, 0]) & (px <= b[:, 2]) & (py >= b[:, 1]) & (py <= b[:, 3])
    return float(inside.any(axis=1).mean())


def _pair_iou(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """IoU of each box in `a` with the box in the same row of `b`."""
    tl = np.maximum(a[:, :2], b[:, :2])
    br = np.minimum(a[:, 2:], b[:, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=1)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return np.asarray(inter / np.maximum(area_a + area_b - inter, 1e-9), np.float64)


def _cover_shares(box: Box, blockers: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Share of `box` inside each of `blockers` (m,)."""
    if not blockers.size:
        return np.zeros(0)
    b = np.asarray(box, np.float64)
    tl = np.maximum(blockers[:, :2], b[:2])
    br = np.minimum(blockers[:, 2:], b[2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=1)
    area = max((b[2] - b[0]) * (b[3] - b[1]), 1.0)
    return np.asarray(inter / area, np.float64)

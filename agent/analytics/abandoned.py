"""`AbandonedObjectDetector`: something new stays put while whoever left it is away.

Objects come from the class-agnostic static-object model (`agent.motion.static_objects`),
because no detector available here recognises a bag at CCTV scale. On top of it:

* a static region covered by a person or vehicle track is that person or vehicle standing
  still: it cannot alert, and being covered counts as being attended;
* the owner is the person track nearest the object when its pixels first stood still
  (looked up in a short history of person boxes, within ``owner_radius_scale`` object
  sides). Something that appeared with nobody at it - barrier tape the wind moved, a
  puddle, a shadow - has no owner and, by default (``require_owner``), never alerts;
* the object is unattended while its owner is farther than ``radius_scale`` object sides
  (the radius follows perspective) or has no track; passers-by do not attend it. A tracker
  id switch on an owner standing by the bag therefore starts the clock (the price of not
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
HISTORY_SECONDS = 30.0  # person boxes kept to find who was there when an object appeared
OWNER_LOOKBACK_S, OWNER_LOOKAHEAD_S = 3.0, 1.0  # around the first-seen time


@dataclass
class _Item:
    box: Box
    first_seen: float
    owner: int
    last_attended: float
    last_seen: float
    label: str = UNNAMED
    label_score: float = 0.0
    alerted_at: float | None = None


@dataclass(frozen=True)
class _People:
    """Person and vehicle tracks of one frame."""

    ids: npt.NDArray[np.int64]
    boxes: npt.NDArray[np.float64]  # persons (n, 4)
    blockers: npt.NDArray[np.float64]  # persons and vehicles (m, 4)


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
        self._history: deque[tuple[float, npt.NDArray[np.int64], npt.NDArray[np.float64]]] = deque()

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
    ) -> list[AnalyticsEvent]:
        """ABANDONED / ABANDONED_CLEARED events for this frame.

        `detections` are the confirmed tracks; `frame` (BGR) feeds the static-object model
        (without it no object is seen this frame); `raw`, the detector's output before
        tracking, names objects (bag classes rarely score high enough to become tracks).
        Details: `Abandoned`, `AbandonedCleared` (owner, stationary and unattended seconds;
        how long the alert stood).
        """
        scene = None
        if frame is not None:
            blockers = rule_rows(detections, np.union1d(self._people, self._vehicles))
            scene = self.static.update(frame, timestamp, detections.xyxy[blockers])
        return self.observe(scene, detections, timestamp, raw)

    def observe(
        self,
        scene: StaticScene | None,
        detections: Detections,
        timestamp: float,
        raw: Detections | None = None,
    ) -> list[AnalyticsEvent]:
        """The rule itself, on a static scene already computed (None: no frame this time)."""
        people = self._tracks(detections, timestamp)
        events: list[AnalyticsEvent] = []
        if scene is not None:
            self._forget_ended(scene)
            for obj in scene.objects:
                event = self._step(obj, people, raw, timestamp)
                if event is not None:
                    events.append(event)
        events += self._missing(scene, timestamp)
        return events

    # ----- people --------------------------------------------------------------------
    def _tracks(self, detections: Detections, now: float) -> _People:
        persons = np.flatnonzero(rule_rows(detections, self._people))
        blockers = np.flatnonzero(rule_rows(detections, np.union1d(self._people, self._vehicles)))
        people = _People(
            detections.tracker_id[persons].astype(np.int64),
            detections.xyxy[persons].astype(np.float64),
            detections.xyxy[blockers].astype(np.float64),
        )
        self._history.append((now, people.ids, people.boxes))
        while self._history and now - self._history[0][0] > HISTORY_SECONDS:
            self._history.popleft()
        return people

    def _owner_at(self, box: Box, when: float) -> int:
        """The person nearest the object around the time it appeared, if close enough.

        Whoever puts a bag down touches it just before its pixels stand still, so the
        window looks a little back; someone merely passing at a distance is not an owner.
        """
        centre, side = _centre_side(box)
        best, owner = self.config.owner_radius_scale * side, NO_TRACK
        for t, ids, boxes in self._history:
            if not ids.size or not when - OWNER_LOOKBACK_S <= t <= when + OWNER_LOOKAHEAD_S:
                continue
            dist = point_box_distance(centre, boxes)[0]
            k = int(dist.argmin())
            if dist[k] <= best:
                best, owner = float(dist[k]), int(ids[k])
        return owner

    # ----- objects -------------------------------------------------------------------
    def _step(
        self, obj: StaticObject, people: _People, raw: Detections | None, now: float
    ) -> AnalyticsEvent | None:
        cfg = self.config
        oid = OBJECT_ID_BASE + obj.object_id
        item = self._items.get(oid) or self._continue(oid, obj)
        if item is None:
            owner = self._owner_at(obj.box, obj.first_seen)
            item = self._items[oid] = _Item(obj.box, obj.first_seen, owner, now, now)
            log.debug("abandoned: object %s at %s, owner %s", oid, obj.box, owner)
        item.box, item.last_seen = obj.box, now
        self._name(item, raw)
        covered = _covered(obj.box, people.blockers) >= cfg.cover_fraction
        if covered or self._attended(item, people):
            item.last_attended = now
        if item.alerted_at is not None or covered:
            return None
        if cfg.require_owner and item.owner == NO_TRACK:
            return None
        if now - item.first_seen < cfg.stationary_seconds:
            return None
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

    def _missing(self, scene: StaticScene | None, now: float) -> list[AnalyticsEvent]:
        if scene is None:
            return []
        events = []
        for oid in [k for k, it in self._items.items() if it.last_seen < now]:
            item = self._items[oid]
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


def _covered(box: Box, blockers: npt.NDArray[np.float64]) -> float:
    """Largest share of `box` inside any one of `blockers` (0 if none)."""
    if not blockers.size:
        return 0.0
    b = np.asarray(box, np.float64)
    tl = np.maximum(blockers[:, :2], b[:2])
    br = np.minimum(blockers[:, 2:], b[2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=1)
    area = max((b[2] - b[0]) * (b[3] - b[1]), 1.0)
    return float(inter.max() / area)

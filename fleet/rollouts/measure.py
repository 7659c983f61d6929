"""Measurements for the gates, read from the store: events, heartbeats, process starts.

Detections come from the stored events, split by the model that made them (every event
carries its detector's name and version): events of the new model are "after"; events
of another model captured in the baseline window before the box's update are "before".
Counted are events about a track that the detector found, i.e. line crossings, zone
entries and loitering, wrong-way and abandoned-object events; not zone exits (a model
that stops seeing makes every track leave at once, a burst that says nothing about what
it sees), traffic-flow intervals (made whatever is seen) or faces (another detector).
Their `confidence` is the detector's score of the track's box.

`EventTally` reads each box's new events incrementally (cursor order), so a tick costs
what arrived since the last one; after a fleet restart the tallies are rebuilt.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from fleet.rollouts.gates import CameraCounts
from fleet.rollouts.records import LatencySample
from fleet.store.base import Store
from fleet.store.records import Device, EventFilter, EventQuery, StoredEvent
from proto.oko.v1 import events_pb2

_US = 1_000_000
PAGE = 1000
MAX_PAGES_PER_TICK = 20
MAX_SCORES = 5000  # per camera and side: enough for the KS test, bounded memory
MAX_BEFORE = 50_000  # baseline detections kept per box (capture time, camera, score)
_NOT_DETECTIONS = frozenset({"traffic_flow", "face", "watchlist_alert"})


def is_detection(event: events_pb2.Event) -> bool:
    """Whether an event reports a track the detector found (see the module docstring)."""
    body = event.WhichOneof("body")
    if body is None or body in _NOT_DETECTIONS or event.track_id < 0:
        return False
    return not (body == "zone" and event.zone.kind == events_pb2.ZoneEvent.KIND_EXIT)


def made_by(event: events_pb2.Event, name: str, version: str) -> bool:
    """Whether the event names name@version among the models that made it."""
    return any(m.name == name and m.version == version for m in event.models)


@dataclass
class _Side:
    count: int = 0
    scores: list[float] = field(default_factory=list)

    def add(self, score: float) -> None:
        self.count += 1
        if len(self.scores) < MAX_SCORES:
            self.scores.append(score)


@dataclass
class EventTally:
    """Before/after detections per camera of one box in one rollout.

    "Before" is what the model the box ran before its update (`previous`; any model but
    the new one when unknown) detected during its own uninterrupted run up to the update:
    the run starts after the last event of any third model (a model tried and rolled
    back in between saw differently, or nothing), see `baseline_start`.
    """

    device_id: str
    model_name: str
    model_version: str
    assigned_us: int
    window_start_us: int
    previous: tuple[str, str] = ("", "")  # name, version the box ran before
    cursor: int = 0
    first_after_us: int = 0  # capture time of the new model's first and last detection
    last_after_us: int = 0
    other_until_us: int = 0  # latest capture before the update by a third model
    before: list[tuple[int, str, float]] = field(default_factory=list)  # capture, camera, score
    after: list[tuple[int, str, float]] = field(default_factory=list)
    undecodable: int = 0

    def _by_previous(self, event: events_pb2.Event) -> bool:
        name, version = self.previous
        if not name:
            return True
        return made_by(event, name, version)

    def add(self, stored: StoredEvent) -> None:
        """Count one stored event of this box."""
        self.cursor = max(self.cursor, stored.cursor)
        try:
            event = events_pb2.Event.FromString(stored.payload)
        except DecodeError:
            self.undecodable += 1
            return
        if made_by(event, self.model_name, self.model_version):
            if is_detection(event):
                if len(self.after) < MAX_BEFORE:
                    self.after.append((stored.capture_us, stored.camera_id, event.confidence))
                first = self.first_after_us or stored.capture_us
                self.first_after_us = min(first, stored.capture_us)
                self.last_after_us = max(self.last_after_us, stored.capture_us)
            return
        if not self.window_start_us <= stored.capture_us < self.assigned_us:
            return
        if not self._by_previous(event):
            self.other_until_us = max(self.other_until_us, stored.capture_us)
        elif is_detection(event) and len(self.before) < MAX_BEFORE:
            self.before.append((stored.capture_us, stored.camera_id, event.confidence))

    async def catch_up(self, store: Store) -> int:
        """Read the box's events stored since the last call; how many were read."""
        read = 0
        for _ in range(MAX_PAGES_PER_TICK):
            query = EventQuery(
                filter=EventFilter.of(device_ids=[self.device_id]),
                after_cursor=self.cursor,
                start_us=self.window_start_us,
                limit=PAGE,
            )
            page = await store.read_events(query)
            for stored in page:
                self.add(stored)
            read += len(page)
            if len(page) < PAGE:
                break
        return read

    def cameras(self, begin_us: int, after_us: int = 0) -> tuple[CameraCounts, ...]:
        """Counts and scores per camera: "before" from `begin_us`, "after" from `after_us`."""
        before: dict[str, _Side] = defaultdict(_Side)
        after: dict[str, _Side] = defaultdict(_Side)
        for capture_us, camera, score in self.before:
            if capture_us >= begin_us:
                before[camera].add(score)
        for capture_us, camera, score in self.after:
            if capture_us >= after_us:
                after[camera].add(score)
        empty = _Side()
        return tuple(
            CameraCounts(
                name,
                before.get(name, empty).count,
                after.get(name, empty).count,
                tuple(before.get(name, empty).scores),
                tuple(after.get(name, empty).scores),
            )
            for name in sorted(set(before) | set(after))
        )


def baseline_start(
    assigned_us: int, window_s: float, cuts: Sequence[int], enrolled_us: int, settle_s: float = 0
) -> int:
    """Where the baseline window begins: `window_s` before the update, or later.

    `cuts` are times before which the previous model's run cannot be trusted to have
    lasted: the agent's process starts (its cameras may not have run before), earlier
    model changes the fleet made (assignments and rollbacks of other rollouts), the last
    detection of a third model. Counting such time would make the old model look blinder
    than it was. The window starts `settle_s` after the latest cut: right after a start or
    a swap the tracker finds everyone in view again at once.
    """
    begin = max(assigned_us - int(window_s * _US), enrolled_us)
    earlier = [c for c in cuts if 0 < c <= assigned_us]
    if earlier:
        begin = max(begin, max(earlier) + int(settle_s * _US))
    return min(begin, assigned_us)


def latency_sample(device: Device) -> LatencySample | None:
    """The device's last heartbeat as a latency sample (mean over cameras that ran)."""
    health = device.health
    if health is None:
        return None
    values = [c.inference_ms for c in health.cameras if c.inference_ms > 0]
    if not values:
        return None
    return LatencySample(device.device_id, health.at_us, sum(values) / len(values))


def split_latency(
    samples: Iterable[LatencySample], assigned_us: int, running_us: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(before, after) latencies of one box: before its update, after the swap.

    The first heartbeat after the swap averages over both models, so it is left out.
    """
    ordered = sorted(samples, key=lambda s: s.at_us)
    before = tuple(s.inference_ms for s in ordered if s.at_us < assigned_us)
    after_all = [s.inference_ms for s in ordered if running_us and s.at_us > running_us]
    return before, tuple(after_all[1:])


def restarts_after(starts: Sequence[int], assigned_us: int) -> int:
    """Agent process starts after the update."""
    return sum(1 for s in starts if s > assigned_us)

"""Admission rules field by field, from the descriptors: every string, float, timestamp,
list and map anywhere in an Event is bounded, and the fast path never accepts what the
full check plan refuses. A field added to events.proto is covered without editing this.

(The over-the-wire tests are tests/fleet/test_untrusted_*.py; this one is pure.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.timestamp_pb2 import Timestamp

from fleet import admission
from fleet.admission import EventRules, event_problem
from fleet.limits import Limits
from proto.oko.v1 import events_pb2
from tests.fleet.helpers import event

RULES = EventRules.of("dev-1", "site-a", time.time_ns() // 1000, Limits())
Path = tuple[str, ...]
_STRING, _FLOATS = (
    FieldDescriptor.TYPE_STRING,
    (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE),
)


def _fields(descriptor: Descriptor | Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every bounded field under `descriptor` (identity fields are compared, not bounded)."""
    for field in descriptor.fields:
        if not path and field.name in ("device_id", "site"):
            continue
        here = (*path, field.name)
        message = field.message_type
        if message is None or message.full_name == Timestamp.DESCRIPTOR.full_name:
            if message is not None or field.type == _STRING or field.type in _FLOATS:
                yield here, field
        elif message.GetOptions().map_entry or field.is_repeated:
            yield here, field
            if not message.GetOptions().map_entry:
                yield from _fields(message, here)
        else:
            yield from _fields(message, here)


def _base(path: Path) -> events_pb2.Event:
    if path[0] == "face":
        return event("cam-1", 1, "face")
    msg = event("cam-1", 1)
    if path[0] == "traffic_flow":
        msg.traffic_flow.line_id = "gate"
        msg.traffic_flow.counts["car"] = 3
        msg.traffic_flow.interval_start.GetCurrentTime()
    return msg


def _holder(msg: Any, path: Path) -> Any:
    """The message holding the last field of `path` (adding one item to repeated ones)."""
    for name in path[:-1]:
        msg = getattr(msg, name)
        if hasattr(msg, "add"):
            msg = msg.add()
    return msg


def _hostile(field: FieldDescriptor) -> list[tuple[str, Any]]:
    """(what is wrong, a setter) pairs for one field."""
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        return [
            ("items", lambda m: m.update({f"k{i}": 1 for i in range(100)})),
            ("control", lambda m: m.update({"car\x1b": 1})),
        ]
    if field.is_repeated:
        return [("items", lambda m: [m.add() for _ in range(100)])]
    if message is not None:  # a Timestamp
        return [
            ("skew", lambda t: setattr(t, "seconds", 10**13)),
            ("nanos", lambda t: setattr(t, "nanos", -1)),
        ]
    if field.type in _FLOATS:
        return [("nan", float("nan")), ("inf", float("inf"))]
    if field.name in ("event_id", "camera_id", "line_id", "zone_id"):
        return [("not an id", "a b"), ("not an id", "x" * 65)]
    return [("control", "ok\x1b[2J"), ("characters", "y" * 5000)]


CASES = [
    pytest.param(path, what, value, id=f"{'.'.join(path)}-{what}")
    for path, field in _fields(events_pb2.Event.DESCRIPTOR)
    for what, value in _hostile(field)
]


def test_every_bounded_field_is_found() -> None:
    names = {".".join(p) for p, _ in _fields(events_pb2.Event.DESCRIPTOR)}
    assert {"event_id", "camera_id", "capture_time", "models", "models.name", "box.x1"} <= names
    assert {"traffic_flow.counts", "traffic_flow.interval_start", "face.embedder.sha256"} <= names
    assert len(CASES) > 60


@pytest.mark.parametrize(("path", "what", "value"), CASES)
def test_each_hostile_field_is_refused_by_plan_and_fast_path_alike(
    path: Path, what: str, value: Any
) -> None:
    msg = _base(path)
    assert event_problem(msg, msg.ByteSize(), RULES) == ""
    holder = _holder(msg, path)
    if callable(value):
        value(getattr(holder, path[-1]))
    else:
        setattr(holder, path[-1], value)
    size = msg.ByteSize()
    if size > Limits().max_event_bytes:
        pytest.skip("refused by size before any field is looked at")
    reason = event_problem(msg, size, RULES)
    assert reason, f"{'.'.join(path)} = {what} was accepted"
    kind = msg.WhichOneof("body")
    assert not admission._fast_ok(msg, kind, size, RULES), "fast path accepts what plan refuses"


@pytest.mark.parametrize("kind", ["line_crossing", "zone", "face"])
def test_ordinary_events_take_the_fast_path(kind: str) -> None:
    msg = event("cam-1", 1, kind)
    msg.models.add(name="nanodet-m-416", version="1", sha256="ab" * 32)
    assert admission._fast_ok(msg, kind, msg.ByteSize(), RULES)
    assert event_problem(msg, msg.ByteSize(), RULES) == ""

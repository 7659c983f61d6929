"""Admission checks: is this message from a box within `fleet.limits`? Pure, no I/O.

Every check returns the reason a value is refused ('' when it is fine) or raises
`InvalidRequestError` with it, naming the field, so the box's operator reads what to fix
in the Ack or the stream's status. Values a box sent are quoted with `!r` in reasons, so a
reason can never carry a newline or an escape sequence into a log line or a terminal.

Events: an ordinary event passes one hand-written fast check (`_fast_ok`); any other is
checked by a plan compiled from the descriptors (every string, list, map, float and
timestamp of every field, present and future), after explicit checks whose reasons name
the usual culprits first. tests/fleet/test_admission.py holds the fast check to the plan,
field by field, so it can never accept what the plan refuses.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from fleet.errors import InvalidRequestError
from fleet.limits import (
    ID_RE,
    MAX_COUNTER,
    MAX_EMBEDDING_DIMS,
    MAX_HOSTNAME_CHARS,
    MAX_ID_CHARS,
    MAX_PERCENT,
    MAX_RATE,
    MAX_VERSION_CHARS,
    MIN_TIME_S,
    Limits,
)
from proto.oko.v1 import agent_pb2, events_pb2

_BYTES_PER_VALUE = {events_pb2.Face.ENCODING_FLOAT16: 2, events_pb2.Face.ENCODING_INT8: 1}
# More class labels than any detector we ship (COCO: 80) by far, still small to store.
MAX_DETECTOR_LABELS = 1024
# String fields inside events that are ids (strict pattern), not free text.
_ID_FIELDS = frozenset({"event_id", "camera_id", "line_id", "zone_id"})
# Checked by equality with the certificate's identity instead.
_IDENTITY_FIELDS = frozenset({"device_id", "site"})
_STRING = FieldDescriptor.TYPE_STRING
_FLOATS = frozenset({FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE})
_MULTILINE_OK = str.maketrans("", "", "\n\t")
_NANOS = 1_000_000_000


def _shown(value: str) -> str:
    """A box-sent value as it may appear in a reason: quoted, escaped, cut short."""
    return repr(value[:48] + ("..." if len(value) > 48 else ""))


def id_problem(name: str, value: str) -> str:
    """Why `value` is not an id (the agent config's pattern), or ''."""
    if ID_RE.match(value):
        return ""
    return (
        f"{name} {_shown(value)} is not an id (1..{MAX_ID_CHARS} letters, digits, '_', '.', "
        "'-', starting with a letter or digit)"
    )


def text_problem(name: str, value: str, max_chars: int, *, multiline: bool = False) -> str:
    """Too long, or holding control characters (newlines and tabs allowed if `multiline`)."""
    if len(value) > max_chars:
        return f"{name} has {len(value)} characters, limit {max_chars}"
    plain = value.translate(_MULTILINE_OK) if multiline else value
    if not plain.isprintable():
        return f"{name} {_shown(value)} contains control characters"
    return ""


@dataclass(frozen=True)
class TimeWindow:
    """The times a box may send: not before 2000 or `max_past_s`, not after the skew."""

    lo_s: int
    hi_s: int

    @classmethod
    def around(cls, now_us: int, limits: Limits) -> TimeWindow:
        """The window around the fleet's clock `now_us`."""
        now_s = now_us // 1_000_000
        return cls(max(MIN_TIME_S, now_s - limits.max_past_s), now_s + limits.max_future_skew_s)

    def problem(self, name: str, stamp: Timestamp) -> str:
        """Why `stamp` is outside the window (or not a valid time), or ''."""
        if not 0 <= stamp.nanos < _NANOS:
            return f"{name}.nanos {stamp.nanos} is not 0..999999999"
        if stamp.seconds > self.hi_s:
            return (
                f"{name} {stamp.seconds} s is {stamp.seconds - self.hi_s} s beyond the allowed "
                "skew ahead of the fleet's clock (limits.max_future_skew_s)"
            )
        if stamp.seconds < self.lo_s:
            return f"{name} {stamp.seconds} s is before {self.lo_s} s (limits.max_past_s)"
        return ""


# Times the fleet reads but never stores or shows (the box's own clock at sending): any valid
# Timestamp. A box whose clock is off must not lose its stream over them; the times that
# are stored (capture, frame, interval start) get the window around the fleet's clock.
ANY_TIME = TimeWindow(-62_135_596_800, 253_402_300_799)  # years 0001..9999


def number_problem(name: str, value: float, high: float) -> str:
    """Why `value` is not a finite number in 0..high, or ''."""
    if not (math.isfinite(value) and 0 <= value <= high):
        return f"{name} {value!r} is not a number in 0..{high:g}"
    return ""


def counter_problem(name: str, value: int) -> str:
    """Why a uint64 counter is beyond what SQLite and JSON readers hold, or ''."""
    return f"{name} {value} exceeds {MAX_COUNTER}" if value > MAX_COUNTER else ""


def first(problems: Iterable[str]) -> str:
    """The first non-empty reason (generators stop at it, so later checks do not run)."""
    return next((p for p in problems if p), "")


def _require(problem: str) -> None:
    if problem:
        raise InvalidRequestError(problem)


# Events --------------------------------------------------------------------------------
@dataclass(frozen=True)
class EventRules:
    """What one batch's events are checked against (built once per batch)."""

    device_id: str
    site: str
    window: TimeWindow
    limits: Limits

    @classmethod
    def of(cls, device_id: str, site: str, now_us: int, limits: Limits) -> EventRules:
        """Rules for a batch from `device_id` at `site`, received at `now_us`."""
        return cls(device_id, site, TimeWindow.around(now_us, limits), limits)


# A check plan per message type, compiled once from the descriptors: every field, present
# and future, is checked, by attribute access rather than a generic ListFields walk (which
# costs ~10x more, and admit runs for every event of every box).
_ID, _TEXT, _FLOAT, _TIME, _MESSAGE, _MAP, _OTHER = range(7)


@dataclass(frozen=True)
class _Check:
    name: str
    kind: int
    repeated: bool
    plan: tuple[_Check, ...] = ()
    key: _Check | None = None  # map entries
    value: _Check | None = None


def _kind(field: FieldDescriptor) -> int:
    if field.type == _STRING:
        return _ID if field.name in _ID_FIELDS else _TEXT
    if field.type in _FLOATS:
        return _FLOAT
    if field.message_type is None:
        return _OTHER
    if field.message_type.full_name == Timestamp.DESCRIPTOR.full_name:
        return _TIME
    return _MAP if field.message_type.GetOptions().map_entry else _MESSAGE


@functools.cache
def _plan(descriptor: Descriptor) -> tuple[_Check, ...]:
    checks = []
    for field in descriptor.fields:
        kind = _kind(field)
        if kind == _OTHER:  # ints, bools, enums, bytes: bounded by their type and the size
            continue
        checks.append(_compile(field, kind))
    return tuple(checks)


def _compile(field: FieldDescriptor, kind: int) -> _Check:
    if kind == _MAP:
        assert field.message_type is not None
        entry = field.message_type.fields_by_name
        key, value = entry["key"], entry["value"]
        return _Check(
            field.name,
            kind,
            True,
            key=_compile(key, _kind(key)),
            value=_compile(value, _kind(value)),
        )
    plan = _plan(field.message_type) if kind == _MESSAGE else ()
    return _Check(field.name, kind, field.is_repeated, plan)


def _value_problem(check: _Check, value: Any, name: str, rules: EventRules) -> str:
    kind = check.kind
    if kind == _ID:
        return id_problem(name, value) if value else ""
    if kind == _TEXT:
        return text_problem(name, value, rules.limits.max_text_chars) if value else ""
    if kind == _FLOAT:
        return "" if math.isfinite(value) else f"{name} is {value!r}"
    if kind == _TIME:
        return rules.window.problem(name, value)
    if kind == _MESSAGE:
        return _plan_problem(value, check.plan, f"{name}.", rules)
    return ""


def _map_problem(check: _Check, value: Mapping[Any, Any], name: str, rules: EventRules) -> str:
    assert check.key is not None and check.value is not None
    for key, item in value.items():
        problem = _value_problem(check.key, key, f"{name} key", rules) or _value_problem(
            check.value, item, f"{name}[{_shown(str(key))}]", rules
        )
        if problem:
            return problem
    return ""


def _plan_problem(msg: Message, plan: tuple[_Check, ...], path: str, rules: EventRules) -> str:
    for check in plan:
        value = getattr(msg, check.name)
        if check.repeated:
            if not value:
                continue
            name = path + check.name
            if len(value) > rules.limits.max_list_items:
                return f"{name} has {len(value)} items, limit {rules.limits.max_list_items}"
            if check.kind == _MAP:
                problem = _map_problem(check, value, name, rules)
            else:
                problem = first(
                    _value_problem(check, item, f"{name}[{i}]", rules)
                    for i, item in enumerate(value)
                )
        elif check.kind in (_TIME, _MESSAGE) and not msg.HasField(check.name):
            continue
        else:
            problem = _value_problem(check, value, path + check.name, rules)
        if problem:
            return problem
    return ""


_EVENT_PLAN = tuple(c for c in _plan(events_pb2.Event.DESCRIPTOR) if c.name not in _IDENTITY_FIELDS)


def _face_problem(face: events_pb2.Face) -> str:
    width = _BYTES_PER_VALUE.get(face.encoding)
    if width is None:
        return "face.encoding unspecified"
    if not 0 < face.dimensions <= MAX_EMBEDDING_DIMS:
        return f"face.dimensions must be 1..{MAX_EMBEDDING_DIMS}"
    if len(face.embedding) != face.dimensions * width:
        size = len(face.embedding)
        return f"face.embedding has {size} bytes, expected {face.dimensions} x {width}"
    return ""


def _text_ok(value: str, most: int) -> bool:
    return len(value) <= most and value.isprintable()


def _finite(*values: float) -> bool:
    # float32 values summed in double precision cannot overflow; the sum is inf or NaN
    # exactly when one of them is, and `x - x` is 0.0 for every finite x only.
    total = sum(values)
    return total - total == 0.0


def _models_ok(models: Sequence[events_pb2.ModelVersion], most: int, chars: int) -> bool:
    if len(models) > most:
        return False
    for m in models:
        name, version, digest = m.name, m.version, m.sha256
        if not (
            len(name) <= chars
            and len(version) <= chars
            and len(digest) <= chars
            and (name + version + digest).isprintable()
        ):
            return False
    return True


def _id_ok(value: str) -> bool:
    return not value or ID_RE.match(value) is not None


def _time_ok(stamp: Timestamp, window: TimeWindow) -> bool:
    return window.lo_s <= stamp.seconds <= window.hi_s and 0 <= stamp.nanos < _NANOS


def _line_ok(body: Any, rules: EventRules) -> bool:
    chars = rules.limits.max_text_chars
    return (
        _id_ok(body.line_id)
        and _text_ok(body.label, chars)
        and _text_ok(body.direction_name, chars)
    )


def _zone_ok(body: Any, rules: EventRules) -> bool:
    chars = rules.limits.max_text_chars
    return _id_ok(body.zone_id) and _text_ok(body.label, chars) and _finite(body.dwell_seconds)


def _wrong_way_ok(body: Any, rules: EventRules) -> bool:
    chars = rules.limits.max_text_chars
    return _id_ok(body.line_id) and _text_ok(body.label, chars) and _finite(body.speed_kmh)


def _abandoned_ok(body: Any, rules: EventRules) -> bool:
    return _text_ok(body.label, rules.limits.max_text_chars) and _finite(
        body.stationary_seconds, body.unattended_seconds, body.alerted_seconds
    )


def _face_ok(body: Any, rules: EventRules) -> bool:
    box = body.face_box
    return _models_ok([body.embedder], 1, rules.limits.max_text_chars) and _finite(
        body.quality, body.detector_score, box.x1, box.y1, box.x2, box.y2
    )


def _traffic_ok(body: Any, rules: EventRules) -> bool:
    counts = body.counts
    chars = rules.limits.max_text_chars
    return (
        _id_ok(body.line_id)
        and (not body.HasField("interval_start") or _time_ok(body.interval_start, rules.window))
        and _finite(
            body.interval_seconds, body.mean_speed_kmh, body.density_per_km, body.observed_seconds
        )
        and len(counts) <= rules.limits.max_list_items
        and all(_text_ok(k, chars) for k in counts)
    )


# Fast, exact-or-stricter checks of the known bodies: True only if the plan would find
# nothing (tests/fleet/test_admission.py holds the two together, field by field); a body
# not listed here is checked by the plan alone.
_BODY_OK: dict[str, Callable[[Any, EventRules], bool]] = {
    "line_crossing": _line_ok,
    "zone": _zone_ok,
    "wrong_way": _wrong_way_ok,
    "abandoned_object": _abandoned_ok,
    "face": _face_ok,
    "traffic_flow": _traffic_ok,
}


def _fast_ok(event: events_pb2.Event, kind: str | None, size: int, rules: EventRules) -> bool:
    """The common case in one pass: True only if the plan would find nothing.

    A test holds the two together, field by field; `_problem` says exactly what is wrong
    otherwise.
    """
    if kind is None:
        return False
    sender, site, b = event.device_id, event.site, event.box
    limits = rules.limits
    body_ok = _BODY_OK.get(kind)
    return (
        body_ok is not None
        and size <= limits.max_event_bytes
        and ID_RE.match(event.event_id) is not None
        and ID_RE.match(event.camera_id) is not None
        and (not sender or sender == rules.device_id)
        and (not site or site == rules.site)
        and (kind != "face" or not _face_problem(event.face))
        and _time_ok(event.capture_time, rules.window)
        and _finite(b.x1, b.y1, b.x2, b.y2, event.confidence)
        and _models_ok(event.models, limits.max_list_items, limits.max_text_chars)
        and body_ok(getattr(event, kind), rules)
    )


def event_problem(event: events_pb2.Event, size: int, rules: EventRules) -> str:
    """Why this event (serialized in `size` bytes) can never be stored, or '' if it can."""
    kind = event.WhichOneof("body")
    if _fast_ok(event, kind, size, rules):
        return ""
    return _problem(event, kind, size, rules)


def _identity_problems(event: events_pb2.Event, rules: EventRules) -> Iterable[str]:
    yield id_problem("event_id", event.event_id)
    yield id_problem("camera_id", event.camera_id)
    if event.device_id and event.device_id != rules.device_id:
        yield (
            f"device_id {_shown(event.device_id)} is not this device's certificate "
            f"({rules.device_id})"
        )
    if event.site and event.site != rules.site:
        yield (
            f"site {_shown(event.site)} is not the site this device is enrolled at "
            f"({rules.site!r}); the fleet stamps the site"
        )


def _problem(event: events_pb2.Event, kind: str | None, size: int, rules: EventRules) -> str:
    limit = rules.limits.max_event_bytes
    if size > limit:
        return f"event is {size} bytes, limit {limit} (limits.max_event_bytes)"
    problem = first(_identity_problems(event, rules))
    if not problem and not event.HasField("capture_time"):
        problem = "capture_time missing"
    if not problem and kind is None:
        problem = "body missing (one of line_crossing, zone, traffic_flow, ...)"
    if not problem and kind == "face":
        problem = _face_problem(event.face)
    if not problem and kind == "watchlist_alert":  # no fast check: never accepted
        problem = "watchlist_alert events are minted by the fleet, never by a box"
    return problem or _plan_problem(event, _EVENT_PLAN, "", rules)


# Agent stream messages -----------------------------------------------------------------
def check_hello(hello: agent_pb2.Hello, limits: Limits) -> None:
    """Raise InvalidRequestError naming the first field of a Hello outside the limits."""
    most = limits.max_cameras_per_device
    _require(
        first(
            (
                text_problem("hello.agent_version", hello.agent_version, MAX_VERSION_CHARS),
                counter_problem("hello.applied_version", hello.applied_version),
                ANY_TIME.problem("hello.started_at", hello.started_at),
                f"hello.camera_ids has {len(hello.camera_ids)} cameras, limit {most} "
                "(limits.max_cameras_per_device)"
                if len(hello.camera_ids) > most
                else "",
                *(id_problem(f"hello.camera_ids[{i}]", c) for i, c in enumerate(hello.camera_ids)),
            )
        )
    )


def _camera_problems(
    i: int, cam: agent_pb2.CameraHealth, window: TimeWindow, limits: Limits
) -> Iterable[str]:
    name = f"heartbeat.cameras[{i}]"
    yield id_problem(f"{name}.camera_id", cam.camera_id)
    yield number_problem(f"{name}.fps", cam.fps, MAX_RATE)
    yield number_problem(f"{name}.inference_ms", cam.inference_ms, MAX_RATE)
    yield text_problem(f"{name}.error", cam.error, limits.max_error_chars, multiline=True)
    if cam.HasField("last_frame_at"):
        yield window.problem(f"{name}.last_frame_at", cam.last_frame_at)


def check_heartbeat(beat: agent_pb2.Heartbeat, now_us: int, limits: Limits) -> None:
    """Raise InvalidRequestError naming the first field of a heartbeat outside the limits."""
    window = TimeWindow.around(now_us, limits)
    most = limits.max_cameras_per_device

    def problems() -> Iterable[str]:
        if len(beat.cameras) > most:
            yield (
                f"heartbeat names {len(beat.cameras)} cameras, limit {most} "
                "(limits.max_cameras_per_device)"
            )
        yield ANY_TIME.problem("heartbeat.sent_at", beat.sent_at)
        for name in ("spool_depth", "spool_bytes", "dropped_events"):
            yield counter_problem(f"heartbeat.{name}", getattr(beat, name))
        yield number_problem("heartbeat.cpu_percent", beat.cpu_percent, MAX_PERCENT)
        yield number_problem("heartbeat.memory_percent", beat.memory_percent, MAX_PERCENT)
        for i, cam in enumerate(beat.cameras):
            yield from _camera_problems(i, cam, window, limits)

    _require(first(problems()))


def check_state(state: agent_pb2.StateReport, limits: Limits) -> None:
    """Raise InvalidRequestError naming the first field of a state report outside the limits."""
    most = limits.max_state_document_bytes
    size = len(state.document) if len(state.document) * 4 <= most else len(state.document.encode())

    def problems() -> Iterable[str]:
        if size > most:
            yield f"state.document is {size} bytes, limit {most} (limits.max_state_document_bytes)"
        yield text_problem("state.document", state.document, most, multiline=True)
        yield text_problem("state.error", state.error, limits.max_error_chars, multiline=True)
        yield counter_problem("state.applied_version", state.applied_version)
        yield counter_problem("state.attempted_version", state.attempted_version)
        yield ANY_TIME.problem("state.reported_at", state.reported_at)
        yield text_problem("state.detector_model", state.detector_model, MAX_ID_CHARS)
        yield text_problem("state.detector_version", state.detector_version, MAX_VERSION_CHARS)
        if len(state.detector_labels) > MAX_DETECTOR_LABELS:
            yield (
                f"state.detector_labels: {len(state.detector_labels)} labels, "
                f"limit {MAX_DETECTOR_LABELS}"
            )
        for i, label in enumerate(state.detector_labels):
            yield text_problem(f"state.detector_labels[{i}]", label, MAX_ID_CHARS)

    _require(first(problems()))


def check_command_result(result: agent_pb2.CommandResult, limits: Limits) -> None:
    """Raise InvalidRequestError if a command result's id or message is outside the limits."""
    _require(
        first(
            (
                text_problem("command_result.command_id", result.command_id, MAX_ID_CHARS),
                text_problem(
                    "command_result.message", result.message, limits.max_error_chars, multiline=True
                ),
            )
        )
    )


def check_enroll(request: agent_pb2.EnrollRequest, limits: Limits) -> None:
    """Everything of an EnrollRequest but the token and the CSR (checked by their owners)."""

    def problems() -> Iterable[str]:
        yield id_problem("device_name", request.device_name.strip())
        yield text_problem("hostname", request.hostname, MAX_HOSTNAME_CHARS)
        yield text_problem("agent_version", request.agent_version, MAX_VERSION_CHARS)
        if len(request.labels) > limits.max_labels:
            yield f"labels: {len(request.labels)} labels, limit {limits.max_labels}"
        for key, value in sorted(request.labels.items()):
            yield id_problem("labels key", key)
            yield text_problem(f"labels[{key!r}]", value, limits.max_label_chars)

    _require(first(problems()))

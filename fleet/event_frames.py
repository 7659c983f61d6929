"""Committed events as bytes on the bus between replicas: a compact, bounded binary frame.

Pure functions, no I/O. A frame is `OKE1`, a u32 count, then per event the cursor,
capture and receipt times (i64), five length-prefixed UTF-8 strings (event, device,
camera id, site, type) and the length-prefixed payload (the serialized oko.v1.Event).
`split` keeps each frame under NATS's message size. Decoding checks every length against
what is left, so a damaged message raises ValueError instead of yielding garbage; the
sequencer then reads those cursors from the store.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from fleet.store.records import StoredEvent

MAGIC = b"OKE1"
_HEAD = struct.Struct("<4sI")
_FIXED = struct.Struct("<qqqHHHHHI")
MAX_FRAME_BYTES = 768 * 1024  # under NATS's default max_payload of 1 MiB


def _size(e: StoredEvent) -> int:
    return _FIXED.size + sum(len(s) * 4 for s in e[1:6]) + len(e.payload)


def split(
    events: list[StoredEvent], max_bytes: int = MAX_FRAME_BYTES
) -> Iterator[tuple[bytes, int]]:
    """Encode `events` (cursor order) into (frame, events in it), each about `max_bytes` at most."""
    start, size = 0, _HEAD.size
    for i, event in enumerate(events):
        grow = _size(event)
        if i > start and size + grow > max_bytes:
            yield encode(events[start:i]), i - start
            start, size = i, _HEAD.size
        size += grow
    if start < len(events):
        yield encode(events[start:]), len(events) - start


def encode(events: list[StoredEvent]) -> bytes:
    """One frame holding `events`."""
    parts = [_HEAD.pack(MAGIC, len(events))]
    for e in events:
        texts = [s.encode() for s in (e.event_id, e.device_id, e.camera_id, e.site, e.type)]
        parts.append(
            _FIXED.pack(
                e.cursor, e.capture_us, e.received_us, *(len(t) for t in texts), len(e.payload)
            )
        )
        parts.extend(texts)
        parts.append(e.payload)
    return b"".join(parts)


def decode(frame: bytes) -> list[StoredEvent]:
    """The events of a frame; ValueError if it is not a whole, well-formed frame."""
    if len(frame) < _HEAD.size:
        raise ValueError("event frame shorter than its header")
    magic, count = _HEAD.unpack_from(frame)
    if magic != MAGIC:
        raise ValueError(f"not an event frame (magic {magic!r})")
    view = memoryview(frame)
    offset = _HEAD.size
    out: list[StoredEvent] = []
    for _ in range(count):
        if offset + _FIXED.size > len(frame):
            raise ValueError("event frame truncated")
        cursor, capture, received, *lengths = _FIXED.unpack_from(frame, offset)
        offset += _FIXED.size
        if offset + sum(lengths) > len(frame):
            raise ValueError("event frame truncated")
        texts: list[str] = []
        for n in lengths[:5]:
            texts.append(bytes(view[offset : offset + n]).decode())
            offset += n
        payload = bytes(view[offset : offset + lengths[5]])
        offset += lengths[5]
        event_id, device_id, camera_id, site, kind = texts
        out.append(
            StoredEvent(
                cursor, event_id, device_id, camera_id, site, kind, capture, received, payload
            )
        )
    if offset != len(frame):
        raise ValueError("event frame has trailing bytes")
    return out

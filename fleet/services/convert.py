"""Protobuf <-> record conversion at the gRPC edge, and the Subscribe fast path.

`encode_envelope` writes `oko.v1.EventEnvelope` wire bytes directly around the stored
event payload. The payload is already a serialized `Event`, so parsing it only to
serialize it again for every subscriber would cost more than the rest of the fan-out.
Field keys come from the generated descriptors, never typed in by hand, and a test checks
the bytes parse to the same message the generated class would build.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.timestamp_pb2 import Timestamp

from fleet.store.records import (
    CameraHealth,
    CameraStatus,
    ConfigDoc,
    Device,
    DeviceHealth,
    EventFilter,
    StoredEvent,
    Webhook,
)
from fleet.wire import varint
from proto.oko.v1 import admin_pb2, agent_pb2, events_pb2, stream_pb2

if TYPE_CHECKING:  # the stubs type DESCRIPTOR as the pure-Python or the upb Descriptor
    from google._upb._message import Descriptor as UpbDescriptor

DEVICE_OFFLINE_AFTER_US = 30_000_000  # three missed 10 s heartbeats

_VARINT_TYPES = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
}
_LENGTH_TYPES = {FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_BYTES}


def _key(message: Descriptor | UpbDescriptor, name: str) -> bytes:
    """The wire key (field number and wire type) of `message.name`, from the descriptor."""
    field = message.fields_by_name[name]
    if field.type in _VARINT_TYPES:
        return varint(field.number << 3)
    if field.type in _LENGTH_TYPES:
        return varint(field.number << 3 | 2)
    raise TypeError(f"{message.full_name}.{name}: wire type not handled by the fast path")


_SECONDS = _key(Timestamp.DESCRIPTOR, "seconds")
_NANOS = _key(Timestamp.DESCRIPTOR, "nanos")
_CURSOR = _key(stream_pb2.EventEnvelope.DESCRIPTOR, "cursor")
_EVENT = _key(stream_pb2.EventEnvelope.DESCRIPTOR, "event")
_RECEIVED_AT = _key(stream_pb2.EventEnvelope.DESCRIPTOR, "received_at")
_ENVELOPES = _key(stream_pb2.EventEnvelopeBatch.DESCRIPTOR, "envelopes")


def ts(us: int) -> Timestamp | None:
    """Timestamp from microseconds; None for 0 (unset), so the field stays absent.

    Also None for a time beyond what a Timestamp can hold (year 9999; stored before boxes'
    times were bounded), so one box's absurd clock cannot fail a listing for everyone.
    """
    if not us:
        return None
    stamp = Timestamp()
    try:
        stamp.FromMicroseconds(us)
    except ValueError:
        return None
    return stamp


def us_of(stamp: Timestamp) -> int:
    """Microseconds since the epoch, the store's unit; an unset stamp gives 0."""
    return stamp.seconds * 1_000_000 + stamp.nanos // 1000


def filter_from_proto(msg: stream_pb2.EventFilter) -> EventFilter:
    """The store's filter; empty lists in `msg` match everything."""
    return EventFilter.of(msg.camera_ids, msg.sites, msg.types, msg.device_ids)


def _received_field(received_us: int) -> bytes:
    """EventEnvelope.received_at as wire bytes; empty when unset."""
    if not received_us:
        return b""
    seconds, micros = divmod(received_us, 1_000_000)
    stamp = _SECONDS + varint(seconds) if seconds else b""
    if micros:
        stamp += _NANOS + varint(micros * 1000)
    return _RECEIVED_AT + varint(len(stamp)) + stamp


def encode_envelope(event: StoredEvent, received: bytes | None = None) -> bytes:
    """Wire bytes of EventEnvelope{cursor, event, received_at}.

    `received` may pass the precomputed received_at field, which all events of one commit
    share.
    """
    if received is None:
        received = _received_field(event.received_us)
    payload = event.payload
    return b"".join(
        (_CURSOR, varint(event.cursor), _EVENT, varint(len(payload)), payload, received)
    )


def encode_envelope_batches(
    events: list[StoredEvent], max_events: int, max_bytes: int
) -> Iterator[bytes]:
    """EventEnvelopeBatch wire bytes, split by event count and size.

    One oversized event still goes alone: it was accepted under the same message limit.
    """
    parts: list[bytes] = []
    size = 0
    stamp_us, received = -1, b""
    for event in events:
        if event.received_us != stamp_us:
            stamp_us, received = event.received_us, _received_field(event.received_us)
        env = encode_envelope(event, received)
        item = _ENVELOPES + varint(len(env)) + env
        if parts and (len(parts) >= max_events or size + len(item) > max_bytes):
            yield b"".join(parts)
            parts, size = [], 0
        parts.append(item)
        size += len(item)
    if parts:
        yield b"".join(parts)


def envelope(event: StoredEvent) -> stream_pb2.EventEnvelope:
    """The same envelope as a message (for Query responses, where speed does not matter)."""
    return stream_pb2.EventEnvelope(
        cursor=event.cursor,
        event=events_pb2.Event.FromString(event.payload),
        received_at=ts(event.received_us),
    )


def health_from_proto(msg: agent_pb2.Heartbeat, at_us: int) -> DeviceHealth:
    """A heartbeat as the store keeps it, stamped with the fleet's receive time `at_us`."""
    return DeviceHealth(
        at_us=at_us,
        spool_depth=msg.spool_depth,
        spool_bytes=msg.spool_bytes,
        dropped_events=msg.dropped_events,
        cpu_percent=msg.cpu_percent,
        memory_percent=msg.memory_percent,
        cameras=tuple(
            CameraHealth(
                camera_id=c.camera_id,
                online=c.online,
                fps=c.fps,
                inference_ms=c.inference_ms,
                error=c.error,
                last_frame_us=us_of(c.last_frame_at),
            )
            for c in msg.cameras
        ),
    )


def camera_to_proto(cam: CameraStatus) -> admin_pb2.CameraStatus:
    """A camera's last reported health, with its box and site, for admin listings."""
    h = cam.health
    return admin_pb2.CameraStatus(
        camera_id=h.camera_id,
        device_id=cam.device_id,
        site=cam.site,
        online=h.online,
        fps=h.fps,
        inference_ms=h.inference_ms,
        error=h.error,
        last_frame_at=ts(h.last_frame_us),
        last_event_at=ts(cam.last_event_us),
    )


def device_status(device: Device, connected: bool, now_us: int) -> str:
    """'revoked', or 'online' only if connected and heard from within the offline window."""
    if device.status == "revoked":
        return "revoked"
    fresh = now_us - device.last_seen_us < DEVICE_OFFLINE_AFTER_US
    return "online" if connected and fresh else "offline"


def drift(desired_version: int, device: Device, desired_document: str | None = None) -> bool:
    """True if the box does not run what is desired.

    That is another version, a failed apply, or (when the desired document is given) the
    same version number with other content.
    """
    reported = device.reported
    if reported is None:
        return desired_version > 0
    if desired_document is not None and reported.document != desired_document:
        return True
    return reported.applied_version != desired_version or not reported.ok


def device_to_proto(
    device: Device,
    connected: bool,
    now_us: int,
    desired_version: int,
    cameras: list[CameraStatus] | None = None,
) -> admin_pb2.Device:
    """A device for admin listings: status, drift and last health (zeros before any)."""
    health = device.health
    reported = device.reported
    return admin_pb2.Device(
        device_id=device.device_id,
        name=device.name,
        site=device.site,
        status=device_status(device, connected, now_us),
        enrolled_at=ts(device.enrolled_us),
        last_seen=ts(device.last_seen_us),
        agent_version=device.agent_version,
        hostname=device.hostname,
        certificate_serial=device.cert_serial,
        certificate_not_after=ts(device.cert_not_after_us),
        spool_depth=health.spool_depth if health else 0,
        dropped_events=health.dropped_events if health else 0,
        cpu_percent=health.cpu_percent if health else 0.0,
        memory_percent=health.memory_percent if health else 0.0,
        desired_version=desired_version,
        reported_version=reported.applied_version if reported else 0,
        drift=drift(desired_version, device),
        cameras=[camera_to_proto(c) for c in cameras or []],
        labels=device.labels,
        revoked_reason=device.revoked_reason,
    )


def config_doc_to_proto(doc: ConfigDoc | None) -> admin_pb2.ConfigDocument | None:
    """None for a scope that has no document yet, so the field stays absent."""
    if doc is None:
        return None
    return admin_pb2.ConfigDocument(
        version=doc.version,
        document=doc.document,
        sha256=doc.sha256,
        created_at=ts(doc.created_us),
        author=doc.author,
    )


def desired_to_proto(doc: ConfigDoc) -> agent_pb2.FleetMessage:
    """The stream message that pushes a rendered desired-state document to its box."""
    return agent_pb2.FleetMessage(
        desired=agent_pb2.DesiredState(
            version=doc.version,
            document=doc.document,
            format="yaml",
            sha256=doc.sha256,
            created_at=ts(doc.created_us),
            author=doc.author,
        )
    )


def config_view(
    device: Device, scope: str, doc: ConfigDoc | None, rendered: ConfigDoc | None
) -> admin_pb2.ConfigView:
    """One scope's document ('' = box) beside the rendered whole and what the box reports."""
    reported = device.reported
    return admin_pb2.ConfigView(
        device_id=device.device_id,
        camera_id=scope,
        desired=config_doc_to_proto(doc),
        rendered=config_doc_to_proto(rendered),
        reported_version=reported.applied_version if reported else 0,
        reported_document=reported.document if reported else "",
        drift=drift(
            rendered.version if rendered else 0, device, rendered.document if rendered else None
        ),
        last_apply_error="" if reported is None or reported.ok else reported.error,
        reported_at=ts(reported.at_us) if reported else None,
    )


def webhook_to_proto(hook: Webhook, with_secret: bool = False) -> admin_pb2.Webhook:
    """A webhook and its delivery counters; the secret only when asked (on creation)."""
    flt = hook.filter
    return admin_pb2.Webhook(
        webhook_id=hook.webhook_id,
        url=hook.url,
        camera_ids=sorted(flt.camera_ids),
        sites=sorted(flt.sites),
        types=sorted(flt.types),
        device_ids=sorted(flt.device_ids),
        delivered=hook.delivered,
        failed_attempts=hook.failed_attempts,
        dead_letters=hook.dead_letters,
        cursor=hook.cursor,
        secret=hook.secret if with_secret else "",
    )

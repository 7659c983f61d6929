"""EventService: live Subscribe with resume, and paged Query.

Subscribe and SubscribeBatches are registered by hand (`add_to_server`) with an identity
response serializer, because their handlers write envelope bytes built around the stored
payload (`convert.encode_envelope`); on the wire they are exactly `stream EventEnvelope`
and `stream EventEnvelopeBatch`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, cast

import grpc

from fleet.app import FleetApp
from fleet.auth import Principal, Role
from fleet.broadcast import follow
from fleet.errors import FleetError, InvalidRequestError
from fleet.limits import ENVELOPE_OVERHEAD_BYTES
from fleet.services import convert
from fleet.services.common import Context, Guarded, abort, guarded
from fleet.store.records import EventFilter, EventQuery, StoredEvent
from proto.oko.v1 import events_pb2, stream_pb2
from proto.transport import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)
SERVICE = "oko.v1.EventService"
EVENT_TYPES = frozenset(f.name for f in events_pb2.Event.DESCRIPTOR.oneofs_by_name["body"].fields)
MAX_BATCH = 1000
DEFAULT_LIMIT = 100
# Larger payloads (only ever stored before admission bounded events) go out header-only.
MAX_DELIVERED_PAYLOAD = MAX_MESSAGE_BYTES // 2
MAX_LIMIT = 1000
MAX_FILTER_VALUES = 1000


def _filter(msg: stream_pb2.EventFilter) -> EventFilter:
    for name in ("camera_ids", "sites", "types", "device_ids"):
        values = getattr(msg, name)
        if len(values) > MAX_FILTER_VALUES:  # each becomes an SQL parameter
            raise InvalidRequestError(
                f"filter.{name} has {len(values)} values, limit {MAX_FILTER_VALUES}"
            )
    flt = convert.filter_from_proto(msg)
    unknown = flt.types - EVENT_TYPES
    if unknown:
        raise InvalidRequestError(
            f"filter.types: unknown {sorted(unknown)}; known: {sorted(EVENT_TYPES)}"
        )
    return flt


def _page(events: list[StoredEvent], max_bytes: int) -> list[StoredEvent]:
    """The leading events that fit in `max_bytes`.

    At least one: every stored event is below `limits.max_event_bytes`, itself far below
    the message limit.
    """
    size = 0
    for count, event in enumerate(events):
        size += len(event.payload) + ENVELOPE_OVERHEAD_BYTES
        if size > max_bytes and count:
            return events[:count]
    return events


def _deliverable(events: list[StoredEvent]) -> list[StoredEvent]:
    """`events`, with any too large for one message cut to its header.

    Only an event stored before admission bounded sizes can be that large: it goes out
    with its ids, camera, site and times but no body, so it never blocks a stream again.
    """
    if all(len(e.payload) <= MAX_DELIVERED_PAYLOAD for e in events):
        return events
    return [e if len(e.payload) <= MAX_DELIVERED_PAYLOAD else _header_only(e) for e in events]


def _header_only(event: StoredEvent) -> StoredEvent:
    full = events_pb2.Event.FromString(event.payload)
    head = events_pb2.Event(
        event_id=full.event_id,
        device_id=full.device_id,
        camera_id=full.camera_id,
        sequence=full.sequence,
        capture_time=full.capture_time,
        track_id=full.track_id,
        site=full.site,
    )
    log.warning(
        "event %r (cursor %s) is %s bytes, too large for one message: delivering its header only",
        event.event_id,
        event.cursor,
        len(event.payload),
    )
    return event._replace(payload=head.SerializeToString())


class EventServicer(Guarded):
    """EventService for operations centres; the RPC contracts are in proto/oko/v1/stream.proto."""

    def __init__(self, app: FleetApp) -> None:
        self.app = app
        self.access = app.access

    async def _open(
        self, request: stream_pb2.SubscribeRequest, context: Context
    ) -> tuple[Principal, EventFilter, int]:
        """Check the caller, the filter and where to start; abort the call if any is wrong."""
        try:
            who = await self.app.access.check(context.invocation_metadata(), Role.VIEWER)
            flt = _filter(request.filter)
            after = request.resume_cursor
            if request.from_now and after == 0:
                after = await self.app.store.last_cursor()
        except FleetError as err:
            await abort(context, err)
        return who, flt, after

    async def _serve(
        self,
        request: stream_pb2.SubscribeRequest,
        context: Context,
        send: Callable[[list[StoredEvent]], Awaitable[None]],
    ) -> None:
        """Follow the store and the fan-out, handing each chunk to `send`.

        Until the client leaves or the token expires or is revoked (then UNAUTHENTICATED,
        whatever the stream was waiting for: the guard interrupts the write to a stalled
        client too).
        """
        who, flt, after = await self._open(request, context)
        self.app.metrics.subscribers.inc()
        try:
            async with self.app.streams.guard(who):
                # Closed at once on the way out, so the fan-out detaches it even when
                # the stream ends during a write rather than inside `follow`.
                chunks = cast(
                    AsyncGenerator[list[StoredEvent], None],
                    follow(self.app.store, self.app.broadcaster, flt, after),
                )
                async with aclosing(chunks):
                    async for chunk in chunks:
                        await send(_deliverable(chunk))
        except FleetError as err:
            await abort(context, err)
        finally:
            self.app.metrics.subscribers.dec()

    async def Subscribe(  # noqa: N802
        self, request: stream_pb2.SubscribeRequest, context: Context
    ) -> None:
        """Stream matching events one envelope per message, from the requested cursor, live."""

        async def send(chunk: list[StoredEvent]) -> None:
            for event in chunk:
                await context.write(convert.encode_envelope(event))

        await self._serve(request, context, send)

    async def SubscribeBatches(  # noqa: N802
        self, request: stream_pb2.SubscribeRequest, context: Context
    ) -> None:
        """Like Subscribe, but several envelopes per message, capped in count and bytes."""
        size = min(request.max_batch or MAX_BATCH, MAX_BATCH)

        async def send(chunk: list[StoredEvent]) -> None:
            pages = convert.encode_envelope_batches(
                chunk, size, self.app.settings.limits.max_page_bytes
            )
            for message in pages:
                await context.write(message)

        await self._serve(request, context, send)

    @guarded(Role.VIEWER)
    async def Query(  # noqa: N802
        self, request: stream_pb2.QueryRequest, context: Context, who: Principal
    ) -> stream_pb2.QueryResponse:
        """One page of stored events (oldest or newest first); `next_cursor` 0 at the end."""
        limit = request.limit or DEFAULT_LIMIT
        if limit > MAX_LIMIT:
            raise InvalidRequestError(f"limit must be <= {MAX_LIMIT}")
        query = EventQuery(
            filter=_filter(request.filter),
            after_cursor=request.after_cursor,
            start_us=convert.us_of(request.start_time) if request.HasField("start_time") else None,
            end_us=convert.us_of(request.end_time) if request.HasField("end_time") else None,
            limit=limit,
            newest_first=request.newest_first,
            before_cursor=request.before_cursor,
        )
        events = _deliverable(await self.app.store.read_events(query))
        page = _page(events, self.app.settings.limits.max_page_bytes)
        more = len(page) < len(events) or len(events) == limit
        return stream_pb2.QueryResponse(
            events=[convert.envelope(e) for e in page],
            next_cursor=page[-1].cursor if more and page else 0,
        )


def add_to_server(servicer: EventServicer, server: grpc.aio.Server) -> None:
    """Register EventService on `server` with byte-level serializers for the streams."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Subscribe": grpc.unary_stream_rpc_method_handler(
            servicer.Subscribe,
            request_deserializer=stream_pb2.SubscribeRequest.FromString,
            response_serializer=bytes,
        ),
        "SubscribeBatches": grpc.unary_stream_rpc_method_handler(
            servicer.SubscribeBatches,
            request_deserializer=stream_pb2.SubscribeRequest.FromString,
            response_serializer=bytes,
        ),
        "Query": grpc.unary_unary_rpc_method_handler(
            servicer.Query,
            request_deserializer=stream_pb2.QueryRequest.FromString,
            response_serializer=stream_pb2.QueryResponse.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))

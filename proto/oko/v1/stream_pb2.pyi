import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from proto.oko.v1 import events_pb2 as _events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventFilter(_message.Message):
    __slots__ = ("camera_ids", "sites", "types", "device_ids")
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    DEVICE_IDS_FIELD_NUMBER: _ClassVar[int]
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    sites: _containers.RepeatedScalarFieldContainer[str]
    types: _containers.RepeatedScalarFieldContainer[str]
    device_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, camera_ids: _Optional[_Iterable[str]] = ..., sites: _Optional[_Iterable[str]] = ..., types: _Optional[_Iterable[str]] = ..., device_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("filter", "resume_cursor", "from_now", "max_batch")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    RESUME_CURSOR_FIELD_NUMBER: _ClassVar[int]
    FROM_NOW_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    filter: EventFilter
    resume_cursor: int
    from_now: bool
    max_batch: int
    def __init__(self, filter: _Optional[_Union[EventFilter, _Mapping]] = ..., resume_cursor: _Optional[int] = ..., from_now: _Optional[bool] = ..., max_batch: _Optional[int] = ...) -> None: ...

class EventEnvelope(_message.Message):
    __slots__ = ("cursor", "event", "received_at")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    cursor: int
    event: _events_pb2.Event
    received_at: _timestamp_pb2.Timestamp
    def __init__(self, cursor: _Optional[int] = ..., event: _Optional[_Union[_events_pb2.Event, _Mapping]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EventEnvelopeBatch(_message.Message):
    __slots__ = ("envelopes",)
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    envelopes: _containers.RepeatedCompositeFieldContainer[EventEnvelope]
    def __init__(self, envelopes: _Optional[_Iterable[_Union[EventEnvelope, _Mapping]]] = ...) -> None: ...

class QueryRequest(_message.Message):
    __slots__ = ("filter", "start_time", "end_time", "after_cursor", "limit", "newest_first", "before_cursor")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    AFTER_CURSOR_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    NEWEST_FIRST_FIELD_NUMBER: _ClassVar[int]
    BEFORE_CURSOR_FIELD_NUMBER: _ClassVar[int]
    filter: EventFilter
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    after_cursor: int
    limit: int
    newest_first: bool
    before_cursor: int
    def __init__(self, filter: _Optional[_Union[EventFilter, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., after_cursor: _Optional[int] = ..., limit: _Optional[int] = ..., newest_first: _Optional[bool] = ..., before_cursor: _Optional[int] = ...) -> None: ...

class QueryResponse(_message.Message):
    __slots__ = ("events", "next_cursor")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[EventEnvelope]
    next_cursor: int
    def __init__(self, events: _Optional[_Iterable[_Union[EventEnvelope, _Mapping]]] = ..., next_cursor: _Optional[int] = ...) -> None: ...

import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeadLetter(_message.Message):
    __slots__ = ("id", "webhook_id", "cursor", "state", "error", "failed_at", "failures", "event_id", "event_type", "camera_id", "device_id", "site", "replays", "last_replay_at", "last_replay_error")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[DeadLetter.State]
        STATE_PENDING: _ClassVar[DeadLetter.State]
        STATE_REPLAYED: _ClassVar[DeadLetter.State]
        STATE_GONE: _ClassVar[DeadLetter.State]
    STATE_UNSPECIFIED: DeadLetter.State
    STATE_PENDING: DeadLetter.State
    STATE_REPLAYED: DeadLetter.State
    STATE_GONE: DeadLetter.State
    ID_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FAILED_AT_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    REPLAYS_FIELD_NUMBER: _ClassVar[int]
    LAST_REPLAY_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_REPLAY_ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    webhook_id: str
    cursor: int
    state: DeadLetter.State
    error: str
    failed_at: _timestamp_pb2.Timestamp
    failures: int
    event_id: str
    event_type: str
    camera_id: str
    device_id: str
    site: str
    replays: int
    last_replay_at: _timestamp_pb2.Timestamp
    last_replay_error: str
    def __init__(self, id: _Optional[str] = ..., webhook_id: _Optional[str] = ..., cursor: _Optional[int] = ..., state: _Optional[_Union[DeadLetter.State, str]] = ..., error: _Optional[str] = ..., failed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., failures: _Optional[int] = ..., event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., camera_id: _Optional[str] = ..., device_id: _Optional[str] = ..., site: _Optional[str] = ..., replays: _Optional[int] = ..., last_replay_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_replay_error: _Optional[str] = ...) -> None: ...

class ListDeadLettersRequest(_message.Message):
    __slots__ = ("webhook_id", "include_done", "after_id", "limit")
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DONE_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    webhook_id: str
    include_done: bool
    after_id: str
    limit: int
    def __init__(self, webhook_id: _Optional[str] = ..., include_done: _Optional[bool] = ..., after_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListDeadLettersResponse(_message.Message):
    __slots__ = ("dead_letters", "next_after_id")
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    dead_letters: _containers.RepeatedCompositeFieldContainer[DeadLetter]
    next_after_id: str
    def __init__(self, dead_letters: _Optional[_Iterable[_Union[DeadLetter, _Mapping]]] = ..., next_after_id: _Optional[str] = ...) -> None: ...

class ReplayDeadLettersRequest(_message.Message):
    __slots__ = ("ids", "all", "webhook_id", "limit")
    IDS_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    all: bool
    webhook_id: str
    limit: int
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., all: _Optional[bool] = ..., webhook_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ReplayResult(_message.Message):
    __slots__ = ("id", "outcome", "error")
    class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OUTCOME_UNSPECIFIED: _ClassVar[ReplayResult.Outcome]
        OUTCOME_DELIVERED: _ClassVar[ReplayResult.Outcome]
        OUTCOME_FAILED: _ClassVar[ReplayResult.Outcome]
        OUTCOME_GONE: _ClassVar[ReplayResult.Outcome]
        OUTCOME_SKIPPED: _ClassVar[ReplayResult.Outcome]
        OUTCOME_DONE: _ClassVar[ReplayResult.Outcome]
    OUTCOME_UNSPECIFIED: ReplayResult.Outcome
    OUTCOME_DELIVERED: ReplayResult.Outcome
    OUTCOME_FAILED: ReplayResult.Outcome
    OUTCOME_GONE: ReplayResult.Outcome
    OUTCOME_SKIPPED: ReplayResult.Outcome
    OUTCOME_DONE: ReplayResult.Outcome
    ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    outcome: ReplayResult.Outcome
    error: str
    def __init__(self, id: _Optional[str] = ..., outcome: _Optional[_Union[ReplayResult.Outcome, str]] = ..., error: _Optional[str] = ...) -> None: ...

class ReplayDeadLettersResponse(_message.Message):
    __slots__ = ("results", "delivered", "failed", "more")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ReplayResult]
    delivered: int
    failed: int
    more: bool
    def __init__(self, results: _Optional[_Iterable[_Union[ReplayResult, _Mapping]]] = ..., delivered: _Optional[int] = ..., failed: _Optional[int] = ..., more: _Optional[bool] = ...) -> None: ...

import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LiveViewRequest(_message.Message):
    __slots__ = ("action", "view_id", "camera_id", "max_fps", "lease_seconds", "max_width", "max_bytes")
    class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ACTION_UNSPECIFIED: _ClassVar[LiveViewRequest.Action]
        ACTION_START: _ClassVar[LiveViewRequest.Action]
        ACTION_STOP: _ClassVar[LiveViewRequest.Action]
    ACTION_UNSPECIFIED: LiveViewRequest.Action
    ACTION_START: LiveViewRequest.Action
    ACTION_STOP: LiveViewRequest.Action
    ACTION_FIELD_NUMBER: _ClassVar[int]
    VIEW_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_FPS_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_WIDTH_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    action: LiveViewRequest.Action
    view_id: str
    camera_id: str
    max_fps: float
    lease_seconds: int
    max_width: int
    max_bytes: int
    def __init__(self, action: _Optional[_Union[LiveViewRequest.Action, str]] = ..., view_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., max_fps: _Optional[float] = ..., lease_seconds: _Optional[int] = ..., max_width: _Optional[int] = ..., max_bytes: _Optional[int] = ...) -> None: ...

class LiveFrame(_message.Message):
    __slots__ = ("view_id", "camera_id", "capture_time", "width", "height", "jpeg", "tracks", "error")
    VIEW_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TIME_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    JPEG_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    view_id: str
    camera_id: str
    capture_time: _timestamp_pb2.Timestamp
    width: int
    height: int
    jpeg: bytes
    tracks: int
    error: str
    def __init__(self, view_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., capture_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., jpeg: _Optional[bytes] = ..., tracks: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

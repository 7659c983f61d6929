import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_STATE_UNSPECIFIED: _ClassVar[ModelState]
    MODEL_STATE_DOWNLOADING: _ClassVar[ModelState]
    MODEL_STATE_VERIFYING: _ClassVar[ModelState]
    MODEL_STATE_WARMING: _ClassVar[ModelState]
    MODEL_STATE_RUNNING: _ClassVar[ModelState]
    MODEL_STATE_FAILED: _ClassVar[ModelState]
    MODEL_STATE_ROLLED_BACK: _ClassVar[ModelState]
MODEL_STATE_UNSPECIFIED: ModelState
MODEL_STATE_DOWNLOADING: ModelState
MODEL_STATE_VERIFYING: ModelState
MODEL_STATE_WARMING: ModelState
MODEL_STATE_RUNNING: ModelState
MODEL_STATE_FAILED: ModelState
MODEL_STATE_ROLLED_BACK: ModelState

class SigningKey(_message.Message):
    __slots__ = ("key_id", "public_key", "name", "endorsed_by", "endorsement")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENDORSED_BY_FIELD_NUMBER: _ClassVar[int]
    ENDORSEMENT_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    public_key: bytes
    name: str
    endorsed_by: str
    endorsement: bytes
    def __init__(self, key_id: _Optional[str] = ..., public_key: _Optional[bytes] = ..., name: _Optional[str] = ..., endorsed_by: _Optional[str] = ..., endorsement: _Optional[bytes] = ...) -> None: ...

class ModelArtifact(_message.Message):
    __slots__ = ("name", "version", "sha256", "size", "manifest", "signature", "key_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    sha256: str
    size: int
    manifest: str
    signature: bytes
    key_id: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., sha256: _Optional[str] = ..., size: _Optional[int] = ..., manifest: _Optional[str] = ..., signature: _Optional[bytes] = ..., key_id: _Optional[str] = ...) -> None: ...

class ModelAssignment(_message.Message):
    __slots__ = ("assignment_id", "slot", "artifact", "rollback", "keys", "assigned_at", "assigned_by")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_BY_FIELD_NUMBER: _ClassVar[int]
    assignment_id: int
    slot: str
    artifact: ModelArtifact
    rollback: bool
    keys: _containers.RepeatedCompositeFieldContainer[SigningKey]
    assigned_at: _timestamp_pb2.Timestamp
    assigned_by: str
    def __init__(self, assignment_id: _Optional[int] = ..., slot: _Optional[str] = ..., artifact: _Optional[_Union[ModelArtifact, _Mapping]] = ..., rollback: _Optional[bool] = ..., keys: _Optional[_Iterable[_Union[SigningKey, _Mapping]]] = ..., assigned_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., assigned_by: _Optional[str] = ...) -> None: ...

class ModelRef(_message.Message):
    __slots__ = ("name", "version", "sha256", "origin")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    sha256: str
    origin: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., sha256: _Optional[str] = ..., origin: _Optional[str] = ...) -> None: ...

class WarmupResult(_message.Message):
    __slots__ = ("ok", "frames", "expected", "found", "matched", "detail", "seconds")
    OK_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    frames: int
    expected: int
    found: int
    matched: int
    detail: str
    seconds: float
    def __init__(self, ok: _Optional[bool] = ..., frames: _Optional[int] = ..., expected: _Optional[int] = ..., found: _Optional[int] = ..., matched: _Optional[int] = ..., detail: _Optional[str] = ..., seconds: _Optional[float] = ...) -> None: ...

class ModelReport(_message.Message):
    __slots__ = ("slot", "assignment_id", "running", "previous", "attempted", "state", "error", "warmup", "at", "bytes_done", "bytes_total")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    WARMUP_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    slot: str
    assignment_id: int
    running: ModelRef
    previous: ModelRef
    attempted: ModelRef
    state: ModelState
    error: str
    warmup: WarmupResult
    at: _timestamp_pb2.Timestamp
    bytes_done: int
    bytes_total: int
    def __init__(self, slot: _Optional[str] = ..., assignment_id: _Optional[int] = ..., running: _Optional[_Union[ModelRef, _Mapping]] = ..., previous: _Optional[_Union[ModelRef, _Mapping]] = ..., attempted: _Optional[_Union[ModelRef, _Mapping]] = ..., state: _Optional[_Union[ModelState, str]] = ..., error: _Optional[str] = ..., warmup: _Optional[_Union[WarmupResult, _Mapping]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., bytes_done: _Optional[int] = ..., bytes_total: _Optional[int] = ...) -> None: ...

class FetchModelRequest(_message.Message):
    __slots__ = ("name", "version", "offset", "file_sha256")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FILE_SHA256_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    offset: int
    file_sha256: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., offset: _Optional[int] = ..., file_sha256: _Optional[str] = ...) -> None: ...

class ModelChunk(_message.Message):
    __slots__ = ("offset", "data", "total")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    offset: int
    data: bytes
    total: int
    def __init__(self, offset: _Optional[int] = ..., data: _Optional[bytes] = ..., total: _Optional[int] = ...) -> None: ...

class AddSigningKeyRequest(_message.Message):
    __slots__ = ("public_key", "name", "endorsed_by", "endorsement")
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENDORSED_BY_FIELD_NUMBER: _ClassVar[int]
    ENDORSEMENT_FIELD_NUMBER: _ClassVar[int]
    public_key: bytes
    name: str
    endorsed_by: str
    endorsement: bytes
    def __init__(self, public_key: _Optional[bytes] = ..., name: _Optional[str] = ..., endorsed_by: _Optional[str] = ..., endorsement: _Optional[bytes] = ...) -> None: ...

class ListSigningKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSigningKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[SigningKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[SigningKey, _Mapping]]] = ...) -> None: ...

class PushHeader(_message.Message):
    __slots__ = ("name", "version", "manifest", "signature")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    manifest: str
    signature: bytes
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., manifest: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class PushFile(_message.Message):
    __slots__ = ("sha256", "size")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    size: int
    def __init__(self, sha256: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class PushModelRequest(_message.Message):
    __slots__ = ("header", "file", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: PushHeader
    file: PushFile
    data: bytes
    def __init__(self, header: _Optional[_Union[PushHeader, _Mapping]] = ..., file: _Optional[_Union[PushFile, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "version", "sha256", "size", "manifest", "key_id", "pushed_at", "pushed_by", "frames", "assigned_devices")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PUSHED_AT_FIELD_NUMBER: _ClassVar[int]
    PUSHED_BY_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_DEVICES_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    sha256: str
    size: int
    manifest: str
    key_id: str
    pushed_at: _timestamp_pb2.Timestamp
    pushed_by: str
    frames: int
    assigned_devices: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., sha256: _Optional[str] = ..., size: _Optional[int] = ..., manifest: _Optional[str] = ..., key_id: _Optional[str] = ..., pushed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., pushed_by: _Optional[str] = ..., frames: _Optional[int] = ..., assigned_devices: _Optional[int] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class AssignModelRequest(_message.Message):
    __slots__ = ("device_ids", "name", "version", "slot")
    DEVICE_IDS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    device_ids: _containers.RepeatedScalarFieldContainer[str]
    name: str
    version: str
    slot: str
    def __init__(self, device_ids: _Optional[_Iterable[str]] = ..., name: _Optional[str] = ..., version: _Optional[str] = ..., slot: _Optional[str] = ...) -> None: ...

class DeviceAssignment(_message.Message):
    __slots__ = ("device_id", "assignment_id", "delivered", "name", "version")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    assignment_id: int
    delivered: bool
    name: str
    version: str
    def __init__(self, device_id: _Optional[str] = ..., assignment_id: _Optional[int] = ..., delivered: _Optional[bool] = ..., name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class AssignModelResponse(_message.Message):
    __slots__ = ("assignments",)
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    assignments: _containers.RepeatedCompositeFieldContainer[DeviceAssignment]
    def __init__(self, assignments: _Optional[_Iterable[_Union[DeviceAssignment, _Mapping]]] = ...) -> None: ...

class RollbackModelRequest(_message.Message):
    __slots__ = ("device_ids", "slot")
    DEVICE_IDS_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    device_ids: _containers.RepeatedScalarFieldContainer[str]
    slot: str
    def __init__(self, device_ids: _Optional[_Iterable[str]] = ..., slot: _Optional[str] = ...) -> None: ...

class GetModelStatusRequest(_message.Message):
    __slots__ = ("device_id",)
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    def __init__(self, device_id: _Optional[str] = ...) -> None: ...

class ModelSlotStatus(_message.Message):
    __slots__ = ("device_id", "slot", "assigned_name", "assigned_version", "assignment_id", "report", "state")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_NAME_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    slot: str
    assigned_name: str
    assigned_version: str
    assignment_id: int
    report: ModelReport
    state: str
    def __init__(self, device_id: _Optional[str] = ..., slot: _Optional[str] = ..., assigned_name: _Optional[str] = ..., assigned_version: _Optional[str] = ..., assignment_id: _Optional[int] = ..., report: _Optional[_Union[ModelReport, _Mapping]] = ..., state: _Optional[str] = ...) -> None: ...

class ModelStatusResponse(_message.Message):
    __slots__ = ("slots",)
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    slots: _containers.RepeatedCompositeFieldContainer[ModelSlotStatus]
    def __init__(self, slots: _Optional[_Iterable[_Union[ModelSlotStatus, _Mapping]]] = ...) -> None: ...

import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from proto.oko.v1 import console_pb2 as _console_pb2
from proto.oko.v1 import certs_pb2 as _certs_pb2
from proto.oko.v1 import events_pb2 as _events_pb2
from proto.oko.v1 import models_pb2 as _models_pb2
from proto.oko.v1 import watchlists_pb2 as _watchlists_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EnrollRequest(_message.Message):
    __slots__ = ("token", "csr_pem", "device_name", "hostname", "agent_version", "labels")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    DEVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    token: str
    csr_pem: str
    device_name: str
    hostname: str
    agent_version: str
    labels: _containers.ScalarMap[str, str]
    def __init__(self, token: _Optional[str] = ..., csr_pem: _Optional[str] = ..., device_name: _Optional[str] = ..., hostname: _Optional[str] = ..., agent_version: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("device_id", "certificate_pem", "ca_pem", "site", "agent_endpoint", "not_after", "model_signing_keys")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    CA_PEM_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    MODEL_SIGNING_KEYS_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    certificate_pem: str
    ca_pem: str
    site: str
    agent_endpoint: str
    not_after: _timestamp_pb2.Timestamp
    model_signing_keys: _containers.RepeatedCompositeFieldContainer[_models_pb2.SigningKey]
    def __init__(self, device_id: _Optional[str] = ..., certificate_pem: _Optional[str] = ..., ca_pem: _Optional[str] = ..., site: _Optional[str] = ..., agent_endpoint: _Optional[str] = ..., not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., model_signing_keys: _Optional[_Iterable[_Union[_models_pb2.SigningKey, _Mapping]]] = ...) -> None: ...

class AgentMessage(_message.Message):
    __slots__ = ("hello", "heartbeat", "state", "batch", "command_result", "model_report", "evidence", "live_frame")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    COMMAND_RESULT_FIELD_NUMBER: _ClassVar[int]
    MODEL_REPORT_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    LIVE_FRAME_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    heartbeat: Heartbeat
    state: StateReport
    batch: _events_pb2.EventBatch
    command_result: CommandResult
    model_report: _models_pb2.ModelReport
    evidence: _watchlists_pb2.Evidence
    live_frame: _console_pb2.LiveFrame
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., state: _Optional[_Union[StateReport, _Mapping]] = ..., batch: _Optional[_Union[_events_pb2.EventBatch, _Mapping]] = ..., command_result: _Optional[_Union[CommandResult, _Mapping]] = ..., model_report: _Optional[_Union[_models_pb2.ModelReport, _Mapping]] = ..., evidence: _Optional[_Union[_watchlists_pb2.Evidence, _Mapping]] = ..., live_frame: _Optional[_Union[_console_pb2.LiveFrame, _Mapping]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("agent_version", "applied_version", "started_at", "camera_ids", "protocol")
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    APPLIED_VERSION_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    agent_version: str
    applied_version: int
    started_at: _timestamp_pb2.Timestamp
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    protocol: int
    def __init__(self, agent_version: _Optional[str] = ..., applied_version: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., camera_ids: _Optional[_Iterable[str]] = ..., protocol: _Optional[int] = ...) -> None: ...

class CameraHealth(_message.Message):
    __slots__ = ("camera_id", "online", "fps", "inference_ms", "error", "last_frame_at")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_AT_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    online: bool
    fps: float
    inference_ms: float
    error: str
    last_frame_at: _timestamp_pb2.Timestamp
    def __init__(self, camera_id: _Optional[str] = ..., online: _Optional[bool] = ..., fps: _Optional[float] = ..., inference_ms: _Optional[float] = ..., error: _Optional[str] = ..., last_frame_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("sent_at", "spool_depth", "spool_bytes", "dropped_events", "cameras", "cpu_percent", "memory_percent")
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    SPOOL_DEPTH_FIELD_NUMBER: _ClassVar[int]
    SPOOL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DROPPED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    sent_at: _timestamp_pb2.Timestamp
    spool_depth: int
    spool_bytes: int
    dropped_events: int
    cameras: _containers.RepeatedCompositeFieldContainer[CameraHealth]
    cpu_percent: float
    memory_percent: float
    def __init__(self, sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., spool_depth: _Optional[int] = ..., spool_bytes: _Optional[int] = ..., dropped_events: _Optional[int] = ..., cameras: _Optional[_Iterable[_Union[CameraHealth, _Mapping]]] = ..., cpu_percent: _Optional[float] = ..., memory_percent: _Optional[float] = ...) -> None: ...

class StateReport(_message.Message):
    __slots__ = ("applied_version", "document", "attempted_version", "ok", "error", "reported_at", "detector_model", "detector_version", "detector_labels")
    APPLIED_VERSION_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REPORTED_AT_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_MODEL_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_LABELS_FIELD_NUMBER: _ClassVar[int]
    applied_version: int
    document: str
    attempted_version: int
    ok: bool
    error: str
    reported_at: _timestamp_pb2.Timestamp
    detector_model: str
    detector_version: str
    detector_labels: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, applied_version: _Optional[int] = ..., document: _Optional[str] = ..., attempted_version: _Optional[int] = ..., ok: _Optional[bool] = ..., error: _Optional[str] = ..., reported_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., detector_model: _Optional[str] = ..., detector_version: _Optional[str] = ..., detector_labels: _Optional[_Iterable[str]] = ...) -> None: ...

class CommandResult(_message.Message):
    __slots__ = ("command_id", "ok", "message")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    ok: bool
    message: str
    def __init__(self, command_id: _Optional[str] = ..., ok: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...

class FleetMessage(_message.Message):
    __slots__ = ("welcome", "ack", "desired", "command", "models", "evidence_request", "live_view")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    DESIRED_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_REQUEST_FIELD_NUMBER: _ClassVar[int]
    LIVE_VIEW_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    ack: Ack
    desired: DesiredState
    command: Command
    models: _models_pb2.ModelAssignment
    evidence_request: _watchlists_pb2.EvidenceRequest
    live_view: _console_pb2.LiveViewRequest
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., desired: _Optional[_Union[DesiredState, _Mapping]] = ..., command: _Optional[_Union[Command, _Mapping]] = ..., models: _Optional[_Union[_models_pb2.ModelAssignment, _Mapping]] = ..., evidence_request: _Optional[_Union[_watchlists_pb2.EvidenceRequest, _Mapping]] = ..., live_view: _Optional[_Union[_console_pb2.LiveViewRequest, _Mapping]] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("device_id", "site", "server_time", "max_batch_events", "max_message_bytes", "heartbeat_interval_seconds")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_EVENTS_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    site: str
    server_time: _timestamp_pb2.Timestamp
    max_batch_events: int
    max_message_bytes: int
    heartbeat_interval_seconds: int
    def __init__(self, device_id: _Optional[str] = ..., site: _Optional[str] = ..., server_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_batch_events: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., heartbeat_interval_seconds: _Optional[int] = ...) -> None: ...

class RejectedEvent(_message.Message):
    __slots__ = ("index", "event_id", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    event_id: str
    reason: str
    def __init__(self, index: _Optional[int] = ..., event_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("batch_id", "accepted", "duplicates", "rejected", "last_cursor")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    LAST_CURSOR_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    accepted: int
    duplicates: int
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedEvent]
    last_cursor: int
    def __init__(self, batch_id: _Optional[int] = ..., accepted: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[RejectedEvent, _Mapping]]] = ..., last_cursor: _Optional[int] = ...) -> None: ...

class DesiredState(_message.Message):
    __slots__ = ("version", "document", "format", "sha256", "created_at", "author")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    version: int
    document: str
    format: str
    sha256: str
    created_at: _timestamp_pb2.Timestamp
    author: str
    def __init__(self, version: _Optional[int] = ..., document: _Optional[str] = ..., format: _Optional[str] = ..., sha256: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., author: _Optional[str] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("command_id", "kind", "args")
    class ArgsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    kind: str
    args: _containers.ScalarMap[str, str]
    def __init__(self, command_id: _Optional[str] = ..., kind: _Optional[str] = ..., args: _Optional[_Mapping[str, str]] = ...) -> None: ...

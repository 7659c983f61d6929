import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_VIEWER: _ClassVar[Role]
    ROLE_OPERATOR: _ClassVar[Role]
    ROLE_ADMIN: _ClassVar[Role]
ROLE_UNSPECIFIED: Role
ROLE_VIEWER: Role
ROLE_OPERATOR: Role
ROLE_ADMIN: Role

class CreateEnrollmentTokenRequest(_message.Message):
    __slots__ = ("site", "ttl_seconds", "note")
    SITE_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    site: str
    ttl_seconds: int
    note: str
    def __init__(self, site: _Optional[str] = ..., ttl_seconds: _Optional[int] = ..., note: _Optional[str] = ...) -> None: ...

class CreateEnrollmentTokenResponse(_message.Message):
    __slots__ = ("token", "token_id", "expires_at", "ca_sha256")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CA_SHA256_FIELD_NUMBER: _ClassVar[int]
    token: str
    token_id: str
    expires_at: _timestamp_pb2.Timestamp
    ca_sha256: str
    def __init__(self, token: _Optional[str] = ..., token_id: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ca_sha256: _Optional[str] = ...) -> None: ...

class CreateApiTokenRequest(_message.Message):
    __slots__ = ("name", "role", "ttl_seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    role: Role
    ttl_seconds: int
    def __init__(self, name: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class CreateApiTokenResponse(_message.Message):
    __slots__ = ("token", "token_id", "expires_at")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    token: str
    token_id: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, token: _Optional[str] = ..., token_id: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RevokeApiTokenRequest(_message.Message):
    __slots__ = ("token_id", "reason")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    reason: str
    def __init__(self, token_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeApiTokenResponse(_message.Message):
    __slots__ = ("token_id", "name", "streams_ended")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STREAMS_ENDED_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    name: str
    streams_ended: int
    def __init__(self, token_id: _Optional[str] = ..., name: _Optional[str] = ..., streams_ended: _Optional[int] = ...) -> None: ...

class ListTokensRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TokenInfo(_message.Message):
    __slots__ = ("token_id", "kind", "name", "role", "site", "created_at", "expires_at", "used", "used_by_device")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    USED_BY_DEVICE_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    kind: str
    name: str
    role: Role
    site: str
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    used: bool
    used_by_device: str
    def __init__(self, token_id: _Optional[str] = ..., kind: _Optional[str] = ..., name: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., site: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., used: _Optional[bool] = ..., used_by_device: _Optional[str] = ...) -> None: ...

class ListTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[TokenInfo]
    def __init__(self, tokens: _Optional[_Iterable[_Union[TokenInfo, _Mapping]]] = ...) -> None: ...

class CameraStatus(_message.Message):
    __slots__ = ("camera_id", "device_id", "site", "online", "fps", "inference_ms", "error", "last_frame_at", "last_event_at")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_AT_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    device_id: str
    site: str
    online: bool
    fps: float
    inference_ms: float
    error: str
    last_frame_at: _timestamp_pb2.Timestamp
    last_event_at: _timestamp_pb2.Timestamp
    def __init__(self, camera_id: _Optional[str] = ..., device_id: _Optional[str] = ..., site: _Optional[str] = ..., online: _Optional[bool] = ..., fps: _Optional[float] = ..., inference_ms: _Optional[float] = ..., error: _Optional[str] = ..., last_frame_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_event_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Device(_message.Message):
    __slots__ = ("device_id", "name", "site", "status", "enrolled_at", "last_seen", "agent_version", "hostname", "certificate_serial", "certificate_not_after", "spool_depth", "dropped_events", "desired_version", "reported_version", "drift", "cameras", "labels", "revoked_reason", "cpu_percent", "memory_percent", "certificate_days_left", "certificate_renewed_at", "certificate_renewals", "certificate_pending_serial")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_SERIAL_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    SPOOL_DEPTH_FIELD_NUMBER: _ClassVar[int]
    DROPPED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    DESIRED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REPORTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    DRIFT_FIELD_NUMBER: _ClassVar[int]
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_REASON_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_DAYS_LEFT_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_RENEWED_AT_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_RENEWALS_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_PENDING_SERIAL_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    name: str
    site: str
    status: str
    enrolled_at: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    agent_version: str
    hostname: str
    certificate_serial: str
    certificate_not_after: _timestamp_pb2.Timestamp
    spool_depth: int
    dropped_events: int
    desired_version: int
    reported_version: int
    drift: bool
    cameras: _containers.RepeatedCompositeFieldContainer[CameraStatus]
    labels: _containers.ScalarMap[str, str]
    revoked_reason: str
    cpu_percent: float
    memory_percent: float
    certificate_days_left: float
    certificate_renewed_at: _timestamp_pb2.Timestamp
    certificate_renewals: int
    certificate_pending_serial: str
    def __init__(self, device_id: _Optional[str] = ..., name: _Optional[str] = ..., site: _Optional[str] = ..., status: _Optional[str] = ..., enrolled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., agent_version: _Optional[str] = ..., hostname: _Optional[str] = ..., certificate_serial: _Optional[str] = ..., certificate_not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., spool_depth: _Optional[int] = ..., dropped_events: _Optional[int] = ..., desired_version: _Optional[int] = ..., reported_version: _Optional[int] = ..., drift: _Optional[bool] = ..., cameras: _Optional[_Iterable[_Union[CameraStatus, _Mapping]]] = ..., labels: _Optional[_Mapping[str, str]] = ..., revoked_reason: _Optional[str] = ..., cpu_percent: _Optional[float] = ..., memory_percent: _Optional[float] = ..., certificate_days_left: _Optional[float] = ..., certificate_renewed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., certificate_renewals: _Optional[int] = ..., certificate_pending_serial: _Optional[str] = ...) -> None: ...

class ListDevicesRequest(_message.Message):
    __slots__ = ("site",)
    SITE_FIELD_NUMBER: _ClassVar[int]
    site: str
    def __init__(self, site: _Optional[str] = ...) -> None: ...

class ListDevicesResponse(_message.Message):
    __slots__ = ("devices",)
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    devices: _containers.RepeatedCompositeFieldContainer[Device]
    def __init__(self, devices: _Optional[_Iterable[_Union[Device, _Mapping]]] = ...) -> None: ...

class GetDeviceRequest(_message.Message):
    __slots__ = ("device_id",)
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    def __init__(self, device_id: _Optional[str] = ...) -> None: ...

class RevokeDeviceRequest(_message.Message):
    __slots__ = ("device_id", "reason")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    reason: str
    def __init__(self, device_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ListCamerasRequest(_message.Message):
    __slots__ = ("device_id", "site")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    site: str
    def __init__(self, device_id: _Optional[str] = ..., site: _Optional[str] = ...) -> None: ...

class ListCamerasResponse(_message.Message):
    __slots__ = ("cameras",)
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    cameras: _containers.RepeatedCompositeFieldContainer[CameraStatus]
    def __init__(self, cameras: _Optional[_Iterable[_Union[CameraStatus, _Mapping]]] = ...) -> None: ...

class GetConfigRequest(_message.Message):
    __slots__ = ("device_id", "camera_id")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    camera_id: str
    def __init__(self, device_id: _Optional[str] = ..., camera_id: _Optional[str] = ...) -> None: ...

class ConfigDocument(_message.Message):
    __slots__ = ("version", "document", "sha256", "created_at", "author")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    version: int
    document: str
    sha256: str
    created_at: _timestamp_pb2.Timestamp
    author: str
    def __init__(self, version: _Optional[int] = ..., document: _Optional[str] = ..., sha256: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., author: _Optional[str] = ...) -> None: ...

class ConfigView(_message.Message):
    __slots__ = ("device_id", "camera_id", "desired", "rendered", "reported_version", "reported_document", "drift", "last_apply_error", "reported_at", "unchanged")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    DESIRED_FIELD_NUMBER: _ClassVar[int]
    RENDERED_FIELD_NUMBER: _ClassVar[int]
    REPORTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REPORTED_DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    DRIFT_FIELD_NUMBER: _ClassVar[int]
    LAST_APPLY_ERROR_FIELD_NUMBER: _ClassVar[int]
    REPORTED_AT_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    camera_id: str
    desired: ConfigDocument
    rendered: ConfigDocument
    reported_version: int
    reported_document: str
    drift: bool
    last_apply_error: str
    reported_at: _timestamp_pb2.Timestamp
    unchanged: bool
    def __init__(self, device_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., desired: _Optional[_Union[ConfigDocument, _Mapping]] = ..., rendered: _Optional[_Union[ConfigDocument, _Mapping]] = ..., reported_version: _Optional[int] = ..., reported_document: _Optional[str] = ..., drift: _Optional[bool] = ..., last_apply_error: _Optional[str] = ..., reported_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unchanged: _Optional[bool] = ...) -> None: ...

class SetConfigRequest(_message.Message):
    __slots__ = ("device_id", "camera_id", "document", "expected_version", "dry_run")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    camera_id: str
    document: str
    expected_version: int
    dry_run: bool
    def __init__(self, device_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., document: _Optional[str] = ..., expected_version: _Optional[int] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class SetConfigsRequest(_message.Message):
    __slots__ = ("selector", "camera_id", "document", "dry_run")
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    selector: str
    camera_id: str
    document: str
    dry_run: bool
    def __init__(self, selector: _Optional[str] = ..., camera_id: _Optional[str] = ..., document: _Optional[str] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class DeviceConfigResult(_message.Message):
    __slots__ = ("device_id", "version", "unchanged", "error", "delivered")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    version: int
    unchanged: bool
    error: str
    delivered: bool
    def __init__(self, device_id: _Optional[str] = ..., version: _Optional[int] = ..., unchanged: _Optional[bool] = ..., error: _Optional[str] = ..., delivered: _Optional[bool] = ...) -> None: ...

class SetConfigsResponse(_message.Message):
    __slots__ = ("selector", "matched", "changed", "unchanged", "failed", "delivered", "sha256", "devices")
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    selector: str
    matched: int
    changed: int
    unchanged: int
    failed: int
    delivered: int
    sha256: str
    devices: _containers.RepeatedCompositeFieldContainer[DeviceConfigResult]
    def __init__(self, selector: _Optional[str] = ..., matched: _Optional[int] = ..., changed: _Optional[int] = ..., unchanged: _Optional[int] = ..., failed: _Optional[int] = ..., delivered: _Optional[int] = ..., sha256: _Optional[str] = ..., devices: _Optional[_Iterable[_Union[DeviceConfigResult, _Mapping]]] = ...) -> None: ...

class SendCommandRequest(_message.Message):
    __slots__ = ("device_id", "kind", "args")
    class ArgsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    kind: str
    args: _containers.ScalarMap[str, str]
    def __init__(self, device_id: _Optional[str] = ..., kind: _Optional[str] = ..., args: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SendCommandResponse(_message.Message):
    __slots__ = ("command_id", "delivered")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    delivered: bool
    def __init__(self, command_id: _Optional[str] = ..., delivered: _Optional[bool] = ...) -> None: ...

class Webhook(_message.Message):
    __slots__ = ("webhook_id", "url", "camera_ids", "sites", "types", "device_ids", "delivered", "failed_attempts", "dead_letters", "cursor", "secret")
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    DEVICE_IDS_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    FAILED_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    webhook_id: str
    url: str
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    sites: _containers.RepeatedScalarFieldContainer[str]
    types: _containers.RepeatedScalarFieldContainer[str]
    device_ids: _containers.RepeatedScalarFieldContainer[str]
    delivered: int
    failed_attempts: int
    dead_letters: int
    cursor: int
    secret: str
    def __init__(self, webhook_id: _Optional[str] = ..., url: _Optional[str] = ..., camera_ids: _Optional[_Iterable[str]] = ..., sites: _Optional[_Iterable[str]] = ..., types: _Optional[_Iterable[str]] = ..., device_ids: _Optional[_Iterable[str]] = ..., delivered: _Optional[int] = ..., failed_attempts: _Optional[int] = ..., dead_letters: _Optional[int] = ..., cursor: _Optional[int] = ..., secret: _Optional[str] = ...) -> None: ...

class CreateWebhookRequest(_message.Message):
    __slots__ = ("url", "camera_ids", "sites", "types", "device_ids", "secret")
    URL_FIELD_NUMBER: _ClassVar[int]
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    DEVICE_IDS_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    url: str
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    sites: _containers.RepeatedScalarFieldContainer[str]
    types: _containers.RepeatedScalarFieldContainer[str]
    device_ids: _containers.RepeatedScalarFieldContainer[str]
    secret: str
    def __init__(self, url: _Optional[str] = ..., camera_ids: _Optional[_Iterable[str]] = ..., sites: _Optional[_Iterable[str]] = ..., types: _Optional[_Iterable[str]] = ..., device_ids: _Optional[_Iterable[str]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListWebhooksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListWebhooksResponse(_message.Message):
    __slots__ = ("webhooks",)
    WEBHOOKS_FIELD_NUMBER: _ClassVar[int]
    webhooks: _containers.RepeatedCompositeFieldContainer[Webhook]
    def __init__(self, webhooks: _Optional[_Iterable[_Union[Webhook, _Mapping]]] = ...) -> None: ...

class DeleteWebhookRequest(_message.Message):
    __slots__ = ("webhook_id",)
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    webhook_id: str
    def __init__(self, webhook_id: _Optional[str] = ...) -> None: ...

class DeleteWebhookResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerStatus(_message.Message):
    __slots__ = ("version", "started_at", "devices", "devices_online", "devices_revoked", "events_stored", "last_cursor", "subscribers", "ingest_events_per_second", "store", "webhook_dead_letters")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    DEVICES_ONLINE_FIELD_NUMBER: _ClassVar[int]
    DEVICES_REVOKED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_STORED_FIELD_NUMBER: _ClassVar[int]
    LAST_CURSOR_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBERS_FIELD_NUMBER: _ClassVar[int]
    INGEST_EVENTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    version: str
    started_at: _timestamp_pb2.Timestamp
    devices: int
    devices_online: int
    devices_revoked: int
    events_stored: int
    last_cursor: int
    subscribers: int
    ingest_events_per_second: float
    store: str
    webhook_dead_letters: int
    def __init__(self, version: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., devices: _Optional[int] = ..., devices_online: _Optional[int] = ..., devices_revoked: _Optional[int] = ..., events_stored: _Optional[int] = ..., last_cursor: _Optional[int] = ..., subscribers: _Optional[int] = ..., ingest_events_per_second: _Optional[float] = ..., store: _Optional[str] = ..., webhook_dead_letters: _Optional[int] = ...) -> None: ...

import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EvidenceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVIDENCE_STATE_UNSPECIFIED: _ClassVar[EvidenceState]
    EVIDENCE_STATE_PENDING: _ClassVar[EvidenceState]
    EVIDENCE_STATE_PRESENT: _ClassVar[EvidenceState]
    EVIDENCE_STATE_UNAVAILABLE: _ClassVar[EvidenceState]
EVIDENCE_STATE_UNSPECIFIED: EvidenceState
EVIDENCE_STATE_PENDING: EvidenceState
EVIDENCE_STATE_PRESENT: EvidenceState
EVIDENCE_STATE_UNAVAILABLE: EvidenceState

class Gallery(_message.Message):
    __slots__ = ("embedder_name", "embedder_version", "templates", "dimensions")
    EMBEDDER_NAME_FIELD_NUMBER: _ClassVar[int]
    EMBEDDER_VERSION_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    embedder_name: str
    embedder_version: str
    templates: int
    dimensions: int
    def __init__(self, embedder_name: _Optional[str] = ..., embedder_version: _Optional[str] = ..., templates: _Optional[int] = ..., dimensions: _Optional[int] = ...) -> None: ...

class Watchlist(_message.Message):
    __slots__ = ("name", "site", "threshold", "top_k", "description", "created_at", "created_by", "subjects", "galleries")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    GALLERIES_FIELD_NUMBER: _ClassVar[int]
    name: str
    site: str
    threshold: float
    top_k: int
    description: str
    created_at: _timestamp_pb2.Timestamp
    created_by: str
    subjects: int
    galleries: _containers.RepeatedCompositeFieldContainer[Gallery]
    def __init__(self, name: _Optional[str] = ..., site: _Optional[str] = ..., threshold: _Optional[float] = ..., top_k: _Optional[int] = ..., description: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., subjects: _Optional[int] = ..., galleries: _Optional[_Iterable[_Union[Gallery, _Mapping]]] = ...) -> None: ...

class CreateWatchlistRequest(_message.Message):
    __slots__ = ("name", "site", "threshold", "top_k", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    site: str
    threshold: float
    top_k: int
    description: str
    def __init__(self, name: _Optional[str] = ..., site: _Optional[str] = ..., threshold: _Optional[float] = ..., top_k: _Optional[int] = ..., description: _Optional[str] = ...) -> None: ...

class ListWatchlistsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListWatchlistsResponse(_message.Message):
    __slots__ = ("watchlists",)
    WATCHLISTS_FIELD_NUMBER: _ClassVar[int]
    watchlists: _containers.RepeatedCompositeFieldContainer[Watchlist]
    def __init__(self, watchlists: _Optional[_Iterable[_Union[Watchlist, _Mapping]]] = ...) -> None: ...

class GetWatchlistRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteWatchlistRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class Subject(_message.Message):
    __slots__ = ("subject_id", "watchlist", "name", "reason", "expires_at", "created_at", "created_by", "photos", "galleries", "photo_quality")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    WATCHLIST_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    GALLERIES_FIELD_NUMBER: _ClassVar[int]
    PHOTO_QUALITY_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    watchlist: str
    name: str
    reason: str
    expires_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    created_by: str
    photos: int
    galleries: _containers.RepeatedCompositeFieldContainer[Gallery]
    photo_quality: _containers.RepeatedCompositeFieldContainer[PhotoQuality]
    def __init__(self, subject_id: _Optional[str] = ..., watchlist: _Optional[str] = ..., name: _Optional[str] = ..., reason: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., photos: _Optional[int] = ..., galleries: _Optional[_Iterable[_Union[Gallery, _Mapping]]] = ..., photo_quality: _Optional[_Iterable[_Union[PhotoQuality, _Mapping]]] = ...) -> None: ...

class PhotoQuality(_message.Message):
    __slots__ = ("filename", "quality", "face_width_px", "sharpness", "pose", "detector_score")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    FACE_WIDTH_PX_FIELD_NUMBER: _ClassVar[int]
    SHARPNESS_FIELD_NUMBER: _ClassVar[int]
    POSE_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_SCORE_FIELD_NUMBER: _ClassVar[int]
    filename: str
    quality: float
    face_width_px: float
    sharpness: float
    pose: float
    detector_score: float
    def __init__(self, filename: _Optional[str] = ..., quality: _Optional[float] = ..., face_width_px: _Optional[float] = ..., sharpness: _Optional[float] = ..., pose: _Optional[float] = ..., detector_score: _Optional[float] = ...) -> None: ...

class Photo(_message.Message):
    __slots__ = ("filename", "data")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    filename: str
    data: bytes
    def __init__(self, filename: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class AddSubjectRequest(_message.Message):
    __slots__ = ("watchlist", "name", "reason", "expires_at", "photos")
    WATCHLIST_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    watchlist: str
    name: str
    reason: str
    expires_at: _timestamp_pb2.Timestamp
    photos: _containers.RepeatedCompositeFieldContainer[Photo]
    def __init__(self, watchlist: _Optional[str] = ..., name: _Optional[str] = ..., reason: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., photos: _Optional[_Iterable[_Union[Photo, _Mapping]]] = ...) -> None: ...

class ListSubjectsRequest(_message.Message):
    __slots__ = ("watchlist",)
    WATCHLIST_FIELD_NUMBER: _ClassVar[int]
    watchlist: str
    def __init__(self, watchlist: _Optional[str] = ...) -> None: ...

class ListSubjectsResponse(_message.Message):
    __slots__ = ("subjects",)
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    subjects: _containers.RepeatedCompositeFieldContainer[Subject]
    def __init__(self, subjects: _Optional[_Iterable[_Union[Subject, _Mapping]]] = ...) -> None: ...

class GetSubjectRequest(_message.Message):
    __slots__ = ("subject_id",)
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    def __init__(self, subject_id: _Optional[str] = ...) -> None: ...

class RemoveSubjectRequest(_message.Message):
    __slots__ = ("subject_id",)
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    def __init__(self, subject_id: _Optional[str] = ...) -> None: ...

class AlertDecision(_message.Message):
    __slots__ = ("kind", "actor", "actor_token_id", "note", "at")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[AlertDecision.Kind]
        KIND_CONFIRM: _ClassVar[AlertDecision.Kind]
        KIND_REJECT: _ClassVar[AlertDecision.Kind]
    KIND_UNSPECIFIED: AlertDecision.Kind
    KIND_CONFIRM: AlertDecision.Kind
    KIND_REJECT: AlertDecision.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTOR_TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    kind: AlertDecision.Kind
    actor: str
    actor_token_id: str
    note: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, kind: _Optional[_Union[AlertDecision.Kind, str]] = ..., actor: _Optional[str] = ..., actor_token_id: _Optional[str] = ..., note: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WatchlistAlert(_message.Message):
    __slots__ = ("alert_id", "state", "watchlist", "subject_id", "subject_name", "score", "face_event_id", "device_id", "camera_id", "site", "track_id", "raised_at", "decisions", "confirmations_needed", "change", "evidence", "evidence_reason")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[WatchlistAlert.State]
        STATE_CANDIDATE: _ClassVar[WatchlistAlert.State]
        STATE_CONFIRMED: _ClassVar[WatchlistAlert.State]
        STATE_REJECTED: _ClassVar[WatchlistAlert.State]
    STATE_UNSPECIFIED: WatchlistAlert.State
    STATE_CANDIDATE: WatchlistAlert.State
    STATE_CONFIRMED: WatchlistAlert.State
    STATE_REJECTED: WatchlistAlert.State
    class Change(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CHANGE_UNSPECIFIED: _ClassVar[WatchlistAlert.Change]
        CHANGE_RAISED: _ClassVar[WatchlistAlert.Change]
        CHANGE_DECIDED: _ClassVar[WatchlistAlert.Change]
        CHANGE_EVIDENCE: _ClassVar[WatchlistAlert.Change]
    CHANGE_UNSPECIFIED: WatchlistAlert.Change
    CHANGE_RAISED: WatchlistAlert.Change
    CHANGE_DECIDED: WatchlistAlert.Change
    CHANGE_EVIDENCE: WatchlistAlert.Change
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    WATCHLIST_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_NAME_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    FACE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    RAISED_AT_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    CONFIRMATIONS_NEEDED_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_REASON_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    state: WatchlistAlert.State
    watchlist: str
    subject_id: str
    subject_name: str
    score: float
    face_event_id: str
    device_id: str
    camera_id: str
    site: str
    track_id: int
    raised_at: _timestamp_pb2.Timestamp
    decisions: _containers.RepeatedCompositeFieldContainer[AlertDecision]
    confirmations_needed: int
    change: WatchlistAlert.Change
    evidence: EvidenceState
    evidence_reason: str
    def __init__(self, alert_id: _Optional[str] = ..., state: _Optional[_Union[WatchlistAlert.State, str]] = ..., watchlist: _Optional[str] = ..., subject_id: _Optional[str] = ..., subject_name: _Optional[str] = ..., score: _Optional[float] = ..., face_event_id: _Optional[str] = ..., device_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., site: _Optional[str] = ..., track_id: _Optional[int] = ..., raised_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decisions: _Optional[_Iterable[_Union[AlertDecision, _Mapping]]] = ..., confirmations_needed: _Optional[int] = ..., change: _Optional[_Union[WatchlistAlert.Change, str]] = ..., evidence: _Optional[_Union[EvidenceState, str]] = ..., evidence_reason: _Optional[str] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("state", "watchlist", "limit")
    STATE_FIELD_NUMBER: _ClassVar[int]
    WATCHLIST_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    state: WatchlistAlert.State
    watchlist: str
    limit: int
    def __init__(self, state: _Optional[_Union[WatchlistAlert.State, str]] = ..., watchlist: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts",)
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[WatchlistAlert]
    def __init__(self, alerts: _Optional[_Iterable[_Union[WatchlistAlert, _Mapping]]] = ...) -> None: ...

class GetAlertRequest(_message.Message):
    __slots__ = ("alert_id",)
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    def __init__(self, alert_id: _Optional[str] = ...) -> None: ...

class DecideAlertRequest(_message.Message):
    __slots__ = ("alert_id", "kind", "note")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    kind: AlertDecision.Kind
    note: str
    def __init__(self, alert_id: _Optional[str] = ..., kind: _Optional[_Union[AlertDecision.Kind, str]] = ..., note: _Optional[str] = ...) -> None: ...

class AuditRecord(_message.Message):
    __slots__ = ("seq", "at", "at_us", "actor", "action", "target", "detail", "prev_hash", "hash")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    AT_US_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    seq: int
    at: _timestamp_pb2.Timestamp
    at_us: int
    actor: str
    action: str
    target: str
    detail: str
    prev_hash: str
    hash: str
    def __init__(self, seq: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., at_us: _Optional[int] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., target: _Optional[str] = ..., detail: _Optional[str] = ..., prev_hash: _Optional[str] = ..., hash: _Optional[str] = ...) -> None: ...

class ListAuditRequest(_message.Message):
    __slots__ = ("after_seq", "limit", "since", "actor", "action")
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    after_seq: int
    limit: int
    since: _timestamp_pb2.Timestamp
    actor: str
    action: str
    def __init__(self, after_seq: _Optional[int] = ..., limit: _Optional[int] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ...) -> None: ...

class ListAuditResponse(_message.Message):
    __slots__ = ("records", "next_after_seq")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[AuditRecord]
    next_after_seq: int
    def __init__(self, records: _Optional[_Iterable[_Union[AuditRecord, _Mapping]]] = ..., next_after_seq: _Optional[int] = ...) -> None: ...

class GetCheckpointRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AuditCheckpoint(_message.Message):
    __slots__ = ("seq", "head_hash", "at_us", "signature", "public_key", "key_id")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    AT_US_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    seq: int
    head_hash: str
    at_us: int
    signature: bytes
    public_key: bytes
    key_id: str
    def __init__(self, seq: _Optional[int] = ..., head_hash: _Optional[str] = ..., at_us: _Optional[int] = ..., signature: _Optional[bytes] = ..., public_key: _Optional[bytes] = ..., key_id: _Optional[str] = ...) -> None: ...

class EvidenceRequest(_message.Message):
    __slots__ = ("request_id", "alert_id", "camera_id", "track_id", "face_event_id", "max_bytes")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    alert_id: str
    camera_id: str
    track_id: int
    face_event_id: str
    max_bytes: int
    def __init__(self, request_id: _Optional[str] = ..., alert_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., track_id: _Optional[int] = ..., face_event_id: _Optional[str] = ..., max_bytes: _Optional[int] = ...) -> None: ...

class Evidence(_message.Message):
    __slots__ = ("request_id", "camera_id", "track_id", "face_event_id", "status", "reason", "jpeg", "captured_at")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Evidence.Status]
        STATUS_OK: _ClassVar[Evidence.Status]
        STATUS_UNAVAILABLE: _ClassVar[Evidence.Status]
    STATUS_UNSPECIFIED: Evidence.Status
    STATUS_OK: Evidence.Status
    STATUS_UNAVAILABLE: Evidence.Status
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    JPEG_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    camera_id: str
    track_id: int
    face_event_id: str
    status: Evidence.Status
    reason: str
    jpeg: bytes
    captured_at: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., track_id: _Optional[int] = ..., face_event_id: _Optional[str] = ..., status: _Optional[_Union[Evidence.Status, str]] = ..., reason: _Optional[str] = ..., jpeg: _Optional[bytes] = ..., captured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetAlertEvidenceRequest(_message.Message):
    __slots__ = ("alert_id",)
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    def __init__(self, alert_id: _Optional[str] = ...) -> None: ...

class AlertEvidence(_message.Message):
    __slots__ = ("alert_id", "state", "reason", "jpeg", "width", "height", "sha256", "requested_at", "received_at", "captured_at", "device_id", "camera_id", "track_id", "face_event_id")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    JPEG_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    state: EvidenceState
    reason: str
    jpeg: bytes
    width: int
    height: int
    sha256: str
    requested_at: _timestamp_pb2.Timestamp
    received_at: _timestamp_pb2.Timestamp
    captured_at: _timestamp_pb2.Timestamp
    device_id: str
    camera_id: str
    track_id: int
    face_event_id: str
    def __init__(self, alert_id: _Optional[str] = ..., state: _Optional[_Union[EvidenceState, str]] = ..., reason: _Optional[str] = ..., jpeg: _Optional[bytes] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., sha256: _Optional[str] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., captured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., device_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., track_id: _Optional[int] = ..., face_event_id: _Optional[str] = ...) -> None: ...

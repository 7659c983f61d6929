import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GateSettings(_message.Message):
    __slots__ = ("apply_timeout_seconds", "offline_seconds", "max_restarts", "max_latency_ratio", "min_latency_increase_ms", "min_latency_samples", "baseline_events_seconds", "min_rate_ratio", "max_rate_ratio", "max_ks", "min_scores", "alpha", "interim_alpha", "camera_fail_fraction", "min_quality_seconds", "settle_seconds")
    APPLY_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_RESTARTS_FIELD_NUMBER: _ClassVar[int]
    MAX_LATENCY_RATIO_FIELD_NUMBER: _ClassVar[int]
    MIN_LATENCY_INCREASE_MS_FIELD_NUMBER: _ClassVar[int]
    MIN_LATENCY_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    BASELINE_EVENTS_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MIN_RATE_RATIO_FIELD_NUMBER: _ClassVar[int]
    MAX_RATE_RATIO_FIELD_NUMBER: _ClassVar[int]
    MAX_KS_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORES_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    INTERIM_ALPHA_FIELD_NUMBER: _ClassVar[int]
    CAMERA_FAIL_FRACTION_FIELD_NUMBER: _ClassVar[int]
    MIN_QUALITY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SETTLE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    apply_timeout_seconds: float
    offline_seconds: float
    max_restarts: int
    max_latency_ratio: float
    min_latency_increase_ms: float
    min_latency_samples: int
    baseline_events_seconds: float
    min_rate_ratio: float
    max_rate_ratio: float
    max_ks: float
    min_scores: int
    alpha: float
    interim_alpha: float
    camera_fail_fraction: float
    min_quality_seconds: float
    settle_seconds: float
    def __init__(self, apply_timeout_seconds: _Optional[float] = ..., offline_seconds: _Optional[float] = ..., max_restarts: _Optional[int] = ..., max_latency_ratio: _Optional[float] = ..., min_latency_increase_ms: _Optional[float] = ..., min_latency_samples: _Optional[int] = ..., baseline_events_seconds: _Optional[float] = ..., min_rate_ratio: _Optional[float] = ..., max_rate_ratio: _Optional[float] = ..., max_ks: _Optional[float] = ..., min_scores: _Optional[int] = ..., alpha: _Optional[float] = ..., interim_alpha: _Optional[float] = ..., camera_fail_fraction: _Optional[float] = ..., min_quality_seconds: _Optional[float] = ..., settle_seconds: _Optional[float] = ...) -> None: ...

class CreateRolloutRequest(_message.Message):
    __slots__ = ("model_name", "model_version", "selector", "canary_percent", "steps", "interval_seconds", "max_failure_percent", "baseline_seconds", "gates", "note", "dry_run")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    CANARY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_FAILURE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    BASELINE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    GATES_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    model_version: str
    selector: str
    canary_percent: float
    steps: _containers.RepeatedScalarFieldContainer[float]
    interval_seconds: float
    max_failure_percent: float
    baseline_seconds: float
    gates: GateSettings
    note: str
    dry_run: bool
    def __init__(self, model_name: _Optional[str] = ..., model_version: _Optional[str] = ..., selector: _Optional[str] = ..., canary_percent: _Optional[float] = ..., steps: _Optional[_Iterable[float]] = ..., interval_seconds: _Optional[float] = ..., max_failure_percent: _Optional[float] = ..., baseline_seconds: _Optional[float] = ..., gates: _Optional[_Union[GateSettings, _Mapping]] = ..., note: _Optional[str] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class GateResult(_message.Message):
    __slots__ = ("gate", "verdict", "reason")
    GATE_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    gate: str
    verdict: str
    reason: str
    def __init__(self, gate: _Optional[str] = ..., verdict: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RolloutDevice(_message.Message):
    __slots__ = ("device_id", "name", "position", "step", "verdict", "reason", "assigned_at", "running_at", "previous_model", "gates", "rolled_back_at", "model_state", "running_model", "online")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    RUNNING_AT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_MODEL_FIELD_NUMBER: _ClassVar[int]
    GATES_FIELD_NUMBER: _ClassVar[int]
    ROLLED_BACK_AT_FIELD_NUMBER: _ClassVar[int]
    MODEL_STATE_FIELD_NUMBER: _ClassVar[int]
    RUNNING_MODEL_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    name: str
    position: int
    step: int
    verdict: str
    reason: str
    assigned_at: _timestamp_pb2.Timestamp
    running_at: _timestamp_pb2.Timestamp
    previous_model: str
    gates: _containers.RepeatedCompositeFieldContainer[GateResult]
    rolled_back_at: _timestamp_pb2.Timestamp
    model_state: str
    running_model: str
    online: bool
    def __init__(self, device_id: _Optional[str] = ..., name: _Optional[str] = ..., position: _Optional[int] = ..., step: _Optional[int] = ..., verdict: _Optional[str] = ..., reason: _Optional[str] = ..., assigned_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., running_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., previous_model: _Optional[str] = ..., gates: _Optional[_Iterable[_Union[GateResult, _Mapping]]] = ..., rolled_back_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., model_state: _Optional[str] = ..., running_model: _Optional[str] = ..., online: _Optional[bool] = ...) -> None: ...

class RolloutStep(_message.Message):
    __slots__ = ("index", "name", "percent", "boxes", "updating", "healthy", "failed", "skipped", "current")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    BOXES_FIELD_NUMBER: _ClassVar[int]
    UPDATING_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    index: int
    name: str
    percent: float
    boxes: int
    updating: int
    healthy: int
    failed: int
    skipped: int
    current: bool
    def __init__(self, index: _Optional[int] = ..., name: _Optional[str] = ..., percent: _Optional[float] = ..., boxes: _Optional[int] = ..., updating: _Optional[int] = ..., healthy: _Optional[int] = ..., failed: _Optional[int] = ..., skipped: _Optional[int] = ..., current: _Optional[bool] = ...) -> None: ...

class Rollout(_message.Message):
    __slots__ = ("rollout_id", "model_name", "model_version", "selector", "state", "step", "reason", "canary_percent", "steps", "interval_seconds", "max_failure_percent", "baseline_seconds", "gates", "note", "created_at", "created_by", "updated_at", "step_started_at", "finished_at", "progress", "devices", "boxes", "updated", "healthy", "failed", "given_back", "back_on_previous", "dry_run")
    ROLLOUT_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CANARY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_FAILURE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    BASELINE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    GATES_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    STEP_STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    BOXES_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    GIVEN_BACK_FIELD_NUMBER: _ClassVar[int]
    BACK_ON_PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    rollout_id: str
    model_name: str
    model_version: str
    selector: str
    state: str
    step: int
    reason: str
    canary_percent: float
    steps: _containers.RepeatedScalarFieldContainer[float]
    interval_seconds: float
    max_failure_percent: float
    baseline_seconds: float
    gates: GateSettings
    note: str
    created_at: _timestamp_pb2.Timestamp
    created_by: str
    updated_at: _timestamp_pb2.Timestamp
    step_started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    progress: _containers.RepeatedCompositeFieldContainer[RolloutStep]
    devices: _containers.RepeatedCompositeFieldContainer[RolloutDevice]
    boxes: int
    updated: int
    healthy: int
    failed: int
    given_back: int
    back_on_previous: int
    dry_run: bool
    def __init__(self, rollout_id: _Optional[str] = ..., model_name: _Optional[str] = ..., model_version: _Optional[str] = ..., selector: _Optional[str] = ..., state: _Optional[str] = ..., step: _Optional[int] = ..., reason: _Optional[str] = ..., canary_percent: _Optional[float] = ..., steps: _Optional[_Iterable[float]] = ..., interval_seconds: _Optional[float] = ..., max_failure_percent: _Optional[float] = ..., baseline_seconds: _Optional[float] = ..., gates: _Optional[_Union[GateSettings, _Mapping]] = ..., note: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., step_started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., progress: _Optional[_Iterable[_Union[RolloutStep, _Mapping]]] = ..., devices: _Optional[_Iterable[_Union[RolloutDevice, _Mapping]]] = ..., boxes: _Optional[int] = ..., updated: _Optional[int] = ..., healthy: _Optional[int] = ..., failed: _Optional[int] = ..., given_back: _Optional[int] = ..., back_on_previous: _Optional[int] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class ListRolloutsRequest(_message.Message):
    __slots__ = ("state", "limit")
    STATE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    state: str
    limit: int
    def __init__(self, state: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListRolloutsResponse(_message.Message):
    __slots__ = ("rollouts",)
    ROLLOUTS_FIELD_NUMBER: _ClassVar[int]
    rollouts: _containers.RepeatedCompositeFieldContainer[Rollout]
    def __init__(self, rollouts: _Optional[_Iterable[_Union[Rollout, _Mapping]]] = ...) -> None: ...

class GetRolloutRequest(_message.Message):
    __slots__ = ("rollout_id",)
    ROLLOUT_ID_FIELD_NUMBER: _ClassVar[int]
    rollout_id: str
    def __init__(self, rollout_id: _Optional[str] = ...) -> None: ...

class RolloutActionRequest(_message.Message):
    __slots__ = ("rollout_id", "reason")
    ROLLOUT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    rollout_id: str
    reason: str
    def __init__(self, rollout_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class AbortRolloutRequest(_message.Message):
    __slots__ = ("rollout_id", "reason", "keep_updated")
    ROLLOUT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    KEEP_UPDATED_FIELD_NUMBER: _ClassVar[int]
    rollout_id: str
    reason: str
    keep_updated: bool
    def __init__(self, rollout_id: _Optional[str] = ..., reason: _Optional[str] = ..., keep_updated: _Optional[bool] = ...) -> None: ...

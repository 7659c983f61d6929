import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from proto.oko.v1 import watchlists_pb2 as _watchlists_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelVersion(_message.Message):
    __slots__ = ("name", "version", "sha256")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    sha256: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...

class Box(_message.Message):
    __slots__ = ("x1", "y1", "x2", "y2")
    X1_FIELD_NUMBER: _ClassVar[int]
    Y1_FIELD_NUMBER: _ClassVar[int]
    X2_FIELD_NUMBER: _ClassVar[int]
    Y2_FIELD_NUMBER: _ClassVar[int]
    x1: float
    y1: float
    x2: float
    y2: float
    def __init__(self, x1: _Optional[float] = ..., y1: _Optional[float] = ..., x2: _Optional[float] = ..., y2: _Optional[float] = ...) -> None: ...

class LineCrossing(_message.Message):
    __slots__ = ("line_id", "label", "direction", "direction_name")
    class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        DIRECTION_UNSPECIFIED: _ClassVar[LineCrossing.Direction]
        DIRECTION_IN: _ClassVar[LineCrossing.Direction]
        DIRECTION_OUT: _ClassVar[LineCrossing.Direction]
    DIRECTION_UNSPECIFIED: LineCrossing.Direction
    DIRECTION_IN: LineCrossing.Direction
    DIRECTION_OUT: LineCrossing.Direction
    LINE_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_NAME_FIELD_NUMBER: _ClassVar[int]
    line_id: str
    label: str
    direction: LineCrossing.Direction
    direction_name: str
    def __init__(self, line_id: _Optional[str] = ..., label: _Optional[str] = ..., direction: _Optional[_Union[LineCrossing.Direction, str]] = ..., direction_name: _Optional[str] = ...) -> None: ...

class ZoneEvent(_message.Message):
    __slots__ = ("zone_id", "label", "kind", "dwell_seconds", "occupancy")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[ZoneEvent.Kind]
        KIND_ENTER: _ClassVar[ZoneEvent.Kind]
        KIND_EXIT: _ClassVar[ZoneEvent.Kind]
        KIND_LOITERING: _ClassVar[ZoneEvent.Kind]
    KIND_UNSPECIFIED: ZoneEvent.Kind
    KIND_ENTER: ZoneEvent.Kind
    KIND_EXIT: ZoneEvent.Kind
    KIND_LOITERING: ZoneEvent.Kind
    ZONE_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DWELL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    OCCUPANCY_FIELD_NUMBER: _ClassVar[int]
    zone_id: str
    label: str
    kind: ZoneEvent.Kind
    dwell_seconds: float
    occupancy: int
    def __init__(self, zone_id: _Optional[str] = ..., label: _Optional[str] = ..., kind: _Optional[_Union[ZoneEvent.Kind, str]] = ..., dwell_seconds: _Optional[float] = ..., occupancy: _Optional[int] = ...) -> None: ...

class TrafficFlow(_message.Message):
    __slots__ = ("line_id", "interval_start", "interval_seconds", "counts", "mean_speed_kmh", "speed_samples", "density_per_km", "congestion", "count_in", "count_out", "wrong_way_count", "speeding_count", "observed_seconds", "lanes")
    class Congestion(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CONGESTION_UNSPECIFIED: _ClassVar[TrafficFlow.Congestion]
        CONGESTION_FREE: _ClassVar[TrafficFlow.Congestion]
        CONGESTION_MODERATE: _ClassVar[TrafficFlow.Congestion]
        CONGESTION_HEAVY: _ClassVar[TrafficFlow.Congestion]
        CONGESTION_JAM: _ClassVar[TrafficFlow.Congestion]
    CONGESTION_UNSPECIFIED: TrafficFlow.Congestion
    CONGESTION_FREE: TrafficFlow.Congestion
    CONGESTION_MODERATE: TrafficFlow.Congestion
    CONGESTION_HEAVY: TrafficFlow.Congestion
    CONGESTION_JAM: TrafficFlow.Congestion
    class CountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    LINE_ID_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_START_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    MEAN_SPEED_KMH_FIELD_NUMBER: _ClassVar[int]
    SPEED_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    DENSITY_PER_KM_FIELD_NUMBER: _ClassVar[int]
    CONGESTION_FIELD_NUMBER: _ClassVar[int]
    COUNT_IN_FIELD_NUMBER: _ClassVar[int]
    COUNT_OUT_FIELD_NUMBER: _ClassVar[int]
    WRONG_WAY_COUNT_FIELD_NUMBER: _ClassVar[int]
    SPEEDING_COUNT_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LANES_FIELD_NUMBER: _ClassVar[int]
    line_id: str
    interval_start: _timestamp_pb2.Timestamp
    interval_seconds: float
    counts: _containers.ScalarMap[str, int]
    mean_speed_kmh: float
    speed_samples: int
    density_per_km: float
    congestion: TrafficFlow.Congestion
    count_in: int
    count_out: int
    wrong_way_count: int
    speeding_count: int
    observed_seconds: float
    lanes: int
    def __init__(self, line_id: _Optional[str] = ..., interval_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., interval_seconds: _Optional[float] = ..., counts: _Optional[_Mapping[str, int]] = ..., mean_speed_kmh: _Optional[float] = ..., speed_samples: _Optional[int] = ..., density_per_km: _Optional[float] = ..., congestion: _Optional[_Union[TrafficFlow.Congestion, str]] = ..., count_in: _Optional[int] = ..., count_out: _Optional[int] = ..., wrong_way_count: _Optional[int] = ..., speeding_count: _Optional[int] = ..., observed_seconds: _Optional[float] = ..., lanes: _Optional[int] = ...) -> None: ...

class WrongWay(_message.Message):
    __slots__ = ("line_id", "label", "speed_kmh")
    LINE_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SPEED_KMH_FIELD_NUMBER: _ClassVar[int]
    line_id: str
    label: str
    speed_kmh: float
    def __init__(self, line_id: _Optional[str] = ..., label: _Optional[str] = ..., speed_kmh: _Optional[float] = ...) -> None: ...

class AbandonedObject(_message.Message):
    __slots__ = ("label", "state", "owner_track_id", "stationary_seconds", "unattended_seconds", "alerted_seconds")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[AbandonedObject.State]
        STATE_ALERT: _ClassVar[AbandonedObject.State]
        STATE_CLEARED: _ClassVar[AbandonedObject.State]
    STATE_UNSPECIFIED: AbandonedObject.State
    STATE_ALERT: AbandonedObject.State
    STATE_CLEARED: AbandonedObject.State
    LABEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    OWNER_TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    STATIONARY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    UNATTENDED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ALERTED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    label: str
    state: AbandonedObject.State
    owner_track_id: int
    stationary_seconds: float
    unattended_seconds: float
    alerted_seconds: float
    def __init__(self, label: _Optional[str] = ..., state: _Optional[_Union[AbandonedObject.State, str]] = ..., owner_track_id: _Optional[int] = ..., stationary_seconds: _Optional[float] = ..., unattended_seconds: _Optional[float] = ..., alerted_seconds: _Optional[float] = ...) -> None: ...

class Face(_message.Message):
    __slots__ = ("embedding", "encoding", "dimensions", "embedder", "quality", "detector_score", "face_box")
    class Encoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ENCODING_UNSPECIFIED: _ClassVar[Face.Encoding]
        ENCODING_FLOAT16: _ClassVar[Face.Encoding]
        ENCODING_INT8: _ClassVar[Face.Encoding]
    ENCODING_UNSPECIFIED: Face.Encoding
    ENCODING_FLOAT16: Face.Encoding
    ENCODING_INT8: Face.Encoding
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDER_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_SCORE_FIELD_NUMBER: _ClassVar[int]
    FACE_BOX_FIELD_NUMBER: _ClassVar[int]
    embedding: bytes
    encoding: Face.Encoding
    dimensions: int
    embedder: ModelVersion
    quality: float
    detector_score: float
    face_box: Box
    def __init__(self, embedding: _Optional[bytes] = ..., encoding: _Optional[_Union[Face.Encoding, str]] = ..., dimensions: _Optional[int] = ..., embedder: _Optional[_Union[ModelVersion, _Mapping]] = ..., quality: _Optional[float] = ..., detector_score: _Optional[float] = ..., face_box: _Optional[_Union[Box, _Mapping]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("event_id", "device_id", "camera_id", "sequence", "capture_time", "track_id", "box", "confidence", "models", "site", "line_crossing", "zone", "traffic_flow", "wrong_way", "abandoned_object", "face", "watchlist_alert")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TIME_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    LINE_CROSSING_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FLOW_FIELD_NUMBER: _ClassVar[int]
    WRONG_WAY_FIELD_NUMBER: _ClassVar[int]
    ABANDONED_OBJECT_FIELD_NUMBER: _ClassVar[int]
    FACE_FIELD_NUMBER: _ClassVar[int]
    WATCHLIST_ALERT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    device_id: str
    camera_id: str
    sequence: int
    capture_time: _timestamp_pb2.Timestamp
    track_id: int
    box: Box
    confidence: float
    models: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    site: str
    line_crossing: LineCrossing
    zone: ZoneEvent
    traffic_flow: TrafficFlow
    wrong_way: WrongWay
    abandoned_object: AbandonedObject
    face: Face
    watchlist_alert: _watchlists_pb2.WatchlistAlert
    def __init__(self, event_id: _Optional[str] = ..., device_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., sequence: _Optional[int] = ..., capture_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., track_id: _Optional[int] = ..., box: _Optional[_Union[Box, _Mapping]] = ..., confidence: _Optional[float] = ..., models: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ..., site: _Optional[str] = ..., line_crossing: _Optional[_Union[LineCrossing, _Mapping]] = ..., zone: _Optional[_Union[ZoneEvent, _Mapping]] = ..., traffic_flow: _Optional[_Union[TrafficFlow, _Mapping]] = ..., wrong_way: _Optional[_Union[WrongWay, _Mapping]] = ..., abandoned_object: _Optional[_Union[AbandonedObject, _Mapping]] = ..., face: _Optional[_Union[Face, _Mapping]] = ..., watchlist_alert: _Optional[_Union[_watchlists_pb2.WatchlistAlert, _Mapping]] = ...) -> None: ...

class EventBatch(_message.Message):
    __slots__ = ("events", "batch_id")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    batch_id: int
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., batch_id: _Optional[int] = ...) -> None: ...

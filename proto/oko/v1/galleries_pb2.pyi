from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GalleryInfo(_message.Message):
    __slots__ = ("embedder_name", "embedder_version", "templates", "subjects", "dimensions", "search")
    EMBEDDER_NAME_FIELD_NUMBER: _ClassVar[int]
    EMBEDDER_VERSION_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    embedder_name: str
    embedder_version: str
    templates: int
    subjects: int
    dimensions: int
    search: str
    def __init__(self, embedder_name: _Optional[str] = ..., embedder_version: _Optional[str] = ..., templates: _Optional[int] = ..., subjects: _Optional[int] = ..., dimensions: _Optional[int] = ..., search: _Optional[str] = ...) -> None: ...

class ListGalleriesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListGalleriesResponse(_message.Message):
    __slots__ = ("galleries", "enrolment_embedder")
    GALLERIES_FIELD_NUMBER: _ClassVar[int]
    ENROLMENT_EMBEDDER_FIELD_NUMBER: _ClassVar[int]
    galleries: _containers.RepeatedCompositeFieldContainer[GalleryInfo]
    enrolment_embedder: str
    def __init__(self, galleries: _Optional[_Iterable[_Union[GalleryInfo, _Mapping]]] = ..., enrolment_embedder: _Optional[str] = ...) -> None: ...

class ReembedRequest(_message.Message):
    __slots__ = ("embedder",)
    EMBEDDER_FIELD_NUMBER: _ClassVar[int]
    embedder: str
    def __init__(self, embedder: _Optional[str] = ...) -> None: ...

class ReembedProgress(_message.Message):
    __slots__ = ("photos", "done", "embedded", "skipped", "refused", "refusal", "finished", "templates")
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    photos: int
    done: int
    embedded: int
    skipped: int
    refused: int
    refusal: str
    finished: bool
    templates: int
    def __init__(self, photos: _Optional[int] = ..., done: _Optional[int] = ..., embedded: _Optional[int] = ..., skipped: _Optional[int] = ..., refused: _Optional[int] = ..., refusal: _Optional[str] = ..., finished: _Optional[bool] = ..., templates: _Optional[int] = ...) -> None: ...

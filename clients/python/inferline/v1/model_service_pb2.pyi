import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_TYPE_UNSPECIFIED: _ClassVar[ModelType]
    MODEL_TYPE_CHAT: _ClassVar[ModelType]
    MODEL_TYPE_COMPLETION: _ClassVar[ModelType]
    MODEL_TYPE_EMBEDDING: _ClassVar[ModelType]
    MODEL_TYPE_IMAGE: _ClassVar[ModelType]
    MODEL_TYPE_AUDIO: _ClassVar[ModelType]
    MODEL_TYPE_VISION: _ClassVar[ModelType]

class ModelState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_STATE_UNSPECIFIED: _ClassVar[ModelState]
    MODEL_STATE_AVAILABLE: _ClassVar[ModelState]
    MODEL_STATE_LOADING: _ClassVar[ModelState]
    MODEL_STATE_LOADED: _ClassVar[ModelState]
    MODEL_STATE_FAILED: _ClassVar[ModelState]

class Capability(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAPABILITY_UNSPECIFIED: _ClassVar[Capability]
    CAPABILITY_CHAT: _ClassVar[Capability]
    CAPABILITY_COMPLETION: _ClassVar[Capability]
    CAPABILITY_EMBEDDING: _ClassVar[Capability]
    CAPABILITY_IMAGE_GENERATION: _ClassVar[Capability]
    CAPABILITY_IMAGE_EDIT: _ClassVar[Capability]
    CAPABILITY_TRANSCRIPTION: _ClassVar[Capability]
    CAPABILITY_TRANSLATION: _ClassVar[Capability]
    CAPABILITY_VISION: _ClassVar[Capability]
    CAPABILITY_TOOLS: _ClassVar[Capability]
MODEL_TYPE_UNSPECIFIED: ModelType
MODEL_TYPE_CHAT: ModelType
MODEL_TYPE_COMPLETION: ModelType
MODEL_TYPE_EMBEDDING: ModelType
MODEL_TYPE_IMAGE: ModelType
MODEL_TYPE_AUDIO: ModelType
MODEL_TYPE_VISION: ModelType
MODEL_STATE_UNSPECIFIED: ModelState
MODEL_STATE_AVAILABLE: ModelState
MODEL_STATE_LOADING: ModelState
MODEL_STATE_LOADED: ModelState
MODEL_STATE_FAILED: ModelState
CAPABILITY_UNSPECIFIED: Capability
CAPABILITY_CHAT: Capability
CAPABILITY_COMPLETION: Capability
CAPABILITY_EMBEDDING: Capability
CAPABILITY_IMAGE_GENERATION: Capability
CAPABILITY_IMAGE_EDIT: Capability
CAPABILITY_TRANSCRIPTION: Capability
CAPABILITY_TRANSLATION: Capability
CAPABILITY_VISION: Capability
CAPABILITY_TOOLS: Capability

class Model(_message.Message):
    __slots__ = ("id", "type", "state", "capabilities", "context_length", "dimensions", "backend", "owned_by", "created", "error", "is_default", "loaded_bytes", "running_requests", "queued_requests", "expire_time", "keep_loaded", "placement")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    OWNED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    LOADED_BYTES_FIELD_NUMBER: _ClassVar[int]
    RUNNING_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    QUEUED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    KEEP_LOADED_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: ModelType
    state: ModelState
    capabilities: _containers.RepeatedScalarFieldContainer[Capability]
    context_length: int
    dimensions: int
    backend: str
    owned_by: str
    created: int
    error: str
    is_default: bool
    loaded_bytes: int
    running_requests: int
    queued_requests: int
    expire_time: _timestamp_pb2.Timestamp
    keep_loaded: bool
    placement: str
    def __init__(self, id: _Optional[str] = ..., type: _Optional[_Union[ModelType, str]] = ..., state: _Optional[_Union[ModelState, str]] = ..., capabilities: _Optional[_Iterable[_Union[Capability, str]]] = ..., context_length: _Optional[int] = ..., dimensions: _Optional[int] = ..., backend: _Optional[str] = ..., owned_by: _Optional[str] = ..., created: _Optional[int] = ..., error: _Optional[str] = ..., is_default: _Optional[bool] = ..., loaded_bytes: _Optional[int] = ..., running_requests: _Optional[int] = ..., queued_requests: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., keep_loaded: _Optional[bool] = ..., placement: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[Model]
    def __init__(self, models: _Optional[_Iterable[_Union[Model, _Mapping]]] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetModelResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: Model
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ...) -> None: ...

class LoadModelRequest(_message.Message):
    __slots__ = ("id", "keep_alive")
    ID_FIELD_NUMBER: _ClassVar[int]
    KEEP_ALIVE_FIELD_NUMBER: _ClassVar[int]
    id: str
    keep_alive: _duration_pb2.Duration
    def __init__(self, id: _Optional[str] = ..., keep_alive: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class LoadModelResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: Model
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ...) -> None: ...

class UnloadModelRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class UnloadModelResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: Model
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ...) -> None: ...

class PullModelRequest(_message.Message):
    __slots__ = ("repository", "file", "revision")
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    repository: str
    file: str
    revision: str
    def __init__(self, repository: _Optional[str] = ..., file: _Optional[str] = ..., revision: _Optional[str] = ...) -> None: ...

class PullProgress(_message.Message):
    __slots__ = ("file", "completed_bytes", "total_bytes")
    FILE_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_BYTES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    file: str
    completed_bytes: int
    total_bytes: int
    def __init__(self, file: _Optional[str] = ..., completed_bytes: _Optional[int] = ..., total_bytes: _Optional[int] = ...) -> None: ...

class PullModelResponse(_message.Message):
    __slots__ = ("progress", "model")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    progress: PullProgress
    model: Model
    def __init__(self, progress: _Optional[_Union[PullProgress, _Mapping]] = ..., model: _Optional[_Union[Model, _Mapping]] = ...) -> None: ...

class DeleteModelRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteModelResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

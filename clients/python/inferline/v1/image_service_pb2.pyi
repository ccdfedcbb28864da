import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from inferline.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImageFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_FORMAT_UNSPECIFIED: _ClassVar[ImageFormat]
    IMAGE_FORMAT_PNG: _ClassVar[ImageFormat]
    IMAGE_FORMAT_JPEG: _ClassVar[ImageFormat]
    IMAGE_FORMAT_WEBP: _ClassVar[ImageFormat]
IMAGE_FORMAT_UNSPECIFIED: ImageFormat
IMAGE_FORMAT_PNG: ImageFormat
IMAGE_FORMAT_JPEG: ImageFormat
IMAGE_FORMAT_WEBP: ImageFormat

class DiffusionParams(_message.Message):
    __slots__ = ("negative_prompt", "width", "height", "steps", "guidance_scale", "seed", "n", "scheduler", "output_format", "output_compression")
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    negative_prompt: str
    width: int
    height: int
    steps: int
    guidance_scale: float
    seed: int
    n: int
    scheduler: str
    output_format: ImageFormat
    output_compression: int
    def __init__(self, negative_prompt: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., steps: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., seed: _Optional[int] = ..., n: _Optional[int] = ..., scheduler: _Optional[str] = ..., output_format: _Optional[_Union[ImageFormat, str]] = ..., output_compression: _Optional[int] = ...) -> None: ...

class GenerateImageRequest(_message.Message):
    __slots__ = ("model", "prompt", "params", "keep_alive", "user")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    KEEP_ALIVE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    model: str
    prompt: str
    params: DiffusionParams
    keep_alive: _duration_pb2.Duration
    user: str
    def __init__(self, model: _Optional[str] = ..., prompt: _Optional[str] = ..., params: _Optional[_Union[DiffusionParams, _Mapping]] = ..., keep_alive: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., user: _Optional[str] = ...) -> None: ...

class EditImageRequest(_message.Message):
    __slots__ = ("model", "prompt", "image", "mask", "strength", "params", "keep_alive", "user")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    KEEP_ALIVE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    model: str
    prompt: str
    image: _common_pb2.Image
    mask: _common_pb2.Image
    strength: float
    params: DiffusionParams
    keep_alive: _duration_pb2.Duration
    user: str
    def __init__(self, model: _Optional[str] = ..., prompt: _Optional[str] = ..., image: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., mask: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., strength: _Optional[float] = ..., params: _Optional[_Union[DiffusionParams, _Mapping]] = ..., keep_alive: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., user: _Optional[str] = ...) -> None: ...

class GeneratedImage(_message.Message):
    __slots__ = ("image", "seed")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    image: _common_pb2.Image
    seed: int
    def __init__(self, image: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., seed: _Optional[int] = ...) -> None: ...

class GenerateImageResponse(_message.Message):
    __slots__ = ("model", "created", "images")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    model: str
    created: int
    images: _containers.RepeatedCompositeFieldContainer[GeneratedImage]
    def __init__(self, model: _Optional[str] = ..., created: _Optional[int] = ..., images: _Optional[_Iterable[_Union[GeneratedImage, _Mapping]]] = ...) -> None: ...

class EditImageResponse(_message.Message):
    __slots__ = ("model", "created", "images")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    model: str
    created: int
    images: _containers.RepeatedCompositeFieldContainer[GeneratedImage]
    def __init__(self, model: _Optional[str] = ..., created: _Optional[int] = ..., images: _Optional[_Iterable[_Union[GeneratedImage, _Mapping]]] = ...) -> None: ...

class DiffusionProgress(_message.Message):
    __slots__ = ("image_index", "step", "total_steps")
    IMAGE_INDEX_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    image_index: int
    step: int
    total_steps: int
    def __init__(self, image_index: _Optional[int] = ..., step: _Optional[int] = ..., total_steps: _Optional[int] = ...) -> None: ...

class GenerateImageStreamResponse(_message.Message):
    __slots__ = ("progress", "final")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    progress: DiffusionProgress
    final: GenerateImageResponse
    def __init__(self, progress: _Optional[_Union[DiffusionProgress, _Mapping]] = ..., final: _Optional[_Union[GenerateImageResponse, _Mapping]] = ...) -> None: ...

class EditImageStreamResponse(_message.Message):
    __slots__ = ("progress", "final")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    progress: DiffusionProgress
    final: EditImageResponse
    def __init__(self, progress: _Optional[_Union[DiffusionProgress, _Mapping]] = ..., final: _Optional[_Union[EditImageResponse, _Mapping]] = ...) -> None: ...

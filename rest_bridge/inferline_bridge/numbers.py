"""Integer types as wide as the proto fields they fill.

A JSON number has no size, a proto field has: an ``int32`` given 2**31 would fail deep in the
translation (a 500). Wire structs declare these instead of ``int``, so msgspec refuses a value
out of range as a 400 naming the field, like any other wrong type.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

Int32 = Annotated[int, msgspec.Meta(ge=INT32_MIN, le=INT32_MAX)]
Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]


def fits_int32(value: int) -> bool:
    """Whether ``value`` fits an ``int32`` proto field."""
    return INT32_MIN <= value <= INT32_MAX

"""JSON schemas as grammars: refuse what the grammar builder cannot enforce, build the rest.

llama-cpp-python's converter turns a schema into a GBNF grammar, but it skips keywords it does
not know (``minimum``, ``multipleOf``, ``patternProperties`` ...) without a word, so an answer
could break the schema while looking constrained. Every keyword is checked here first against
the set the converter enforces; anything else is refused, naming the keyword and where it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from inferline_core.exceptions import InvalidArgument

# Keywords the converter enforces, and annotations that constrain nothing.
_ENFORCED = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "prefixItems",
        "minItems", "maxItems", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs",
        "definitions", "pattern", "format", "minLength", "maxLength",
    }
)  # fmt: skip
_ANNOTATIONS = frozenset(
    {
        "title", "description", "default", "examples", "$schema", "$id", "$comment",
        "deprecated", "readOnly", "writeOnly",
    }
)  # fmt: skip
_FORMATS = frozenset({"date", "time", "date-time", "uuid"})
_SCHEMA_MAPS = ("properties", "$defs", "definitions")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
ANY_OBJECT: Mapping[str, Any] = {"type": "object"}


def _refuse(what: str, where: str, param: str) -> InvalidArgument:
    return InvalidArgument(
        f"{param}: {what} at {where or '(root)'} cannot be enforced by this server's grammar "
        "builder; remove it or describe the constraint in the prompt",
        param=param,
    )


def check(schema: Any, param: str, where: str = "") -> None:
    """Raise InvalidArgument (naming ``param``) for anything the grammar cannot enforce."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, Mapping):
        raise InvalidArgument(
            f"{param}: the schema at {where or '(root)'} is not an object", param=param
        )
    for key, value in schema.items():
        path = f"{where}/{key}"
        if key not in _ENFORCED and key not in _ANNOTATIONS:
            raise _refuse(f"the keyword {key!r}", path, param)
        if key == "format" and value not in _FORMATS:
            raise _refuse(f"the format {value!r}", path, param)
        if key == "$ref" and not str(value).startswith("#/"):
            raise _refuse(f"the non-local reference {value!r}", path, param)
        if key in _SCHEMA_MAPS and isinstance(value, Mapping):
            for name, sub in value.items():
                check(sub, param, f"{path}/{name}")
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            for position, sub in enumerate(value):
                check(sub, param, f"{path}/{position}")
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            check(value, param, path)


def grammar(schema: Mapping[str, Any], param: str) -> str:
    """The GBNF grammar for ``schema``, checked first."""
    from llama_cpp import llama_grammar  # only llama.cpp models build grammars

    check(schema, param)
    try:
        return str(llama_grammar.json_schema_to_gbnf(json.dumps(schema)))
    except (AssertionError, ValueError, KeyError, TypeError, NotImplementedError) as error:
        raise InvalidArgument(
            f"{param}: the grammar builder cannot handle this schema: {error}", param=param
        ) from None


def parse_object(text: str) -> dict[str, Any] | None:
    """``text`` as a JSON object, or None."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None

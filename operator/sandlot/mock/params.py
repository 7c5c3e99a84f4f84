"""Turn raw parameter text into typed values, per OpenAPI `style`/`explode` and the schema.

Called by request validation (validate.py). Deserialisation follows the OpenAPI
style table (form, simple, label, matrix, spaceDelimited, pipeDelimited,
deepObject); coercion turns each string into the JSON type its schema admits
(integer, number, boolean), leaving it a string when it does not parse so that
schema validation reports a precise error.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sandlot.openapi.schemas import SchemaIndex

_INT = re.compile(r"-?\d+\Z")
_DEEP = re.compile(r"\[([^\[\]]*)\]")
MISSING = object()


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One compiled parameter: where it is, how it is serialised, and its schema's shape."""

    name: str
    location: str  # path | query | header | cookie
    required: bool
    style: str
    explode: bool
    schema: Any  # the schema node (may be a $ref), or None with `content`
    kind: str  # "array" | "object" | "scalar" | "json" (content-encoded)
    allow_empty: bool = False


def param_kind(index: SchemaIndex, schema: Any) -> str:
    """Return how a parameter value is shaped: "array", "object" or "scalar"."""
    types = index.types(schema)
    if types == {"array"} or types == {"array", "null"}:
        return "array"
    if types == {"object"} or types == {"object", "null"}:
        return "object"
    return "scalar"


def _pairs_to_object(parts: list[str]) -> dict[str, str]:
    return {parts[i]: parts[i + 1] if i + 1 < len(parts) else "" for i in range(0, len(parts), 2)}


def _kv_object(parts: list[str], sep: str = "=") -> dict[str, str]:
    obj = {}
    for part in parts:
        key, _, value = part.partition(sep)
        obj[key] = value
    return obj


def deserialize_text(spec: ParamSpec, text: str) -> Any:
    """Deserialise a path or header value (styles simple, label, matrix)."""
    style, explode, kind = spec.style, spec.explode, spec.kind
    if style == "label":
        text = text[1:] if text.startswith(".") else text
        sep = "." if explode else ","
        parts = text.split(sep) if text else []
        if kind == "array":
            return parts
        if kind == "object":
            return _kv_object(parts) if explode else _pairs_to_object(parts)
        return text
    if style == "matrix":
        prefix = ";" + spec.name
        if kind == "array" and explode:
            return [p.partition("=")[2] for p in text.split(";")[1:]]
        if kind == "object" and explode:
            return _kv_object(text.split(";")[1:])
        value = text[len(prefix) + 1:] if text.startswith(prefix + "=") else text.lstrip(";")
        if kind == "array":
            return value.split(",") if value else []
        if kind == "object":
            return _pairs_to_object(value.split(","))
        return value
    # simple
    if kind == "array":
        return [p.strip() if spec.location == "header" else p for p in text.split(",")] if text else []
    if kind == "object":
        parts = text.split(",") if text else []
        return _kv_object(parts) if explode else _pairs_to_object(parts)
    return text


def deserialize_query(spec: ParamSpec, query: Mapping[str, list[str]], claimed: set[str]) -> Any:
    """Deserialise a query (or cookie) parameter from name -> values; MISSING when absent."""
    name, kind = spec.name, spec.kind
    if spec.style == "deepObject":
        prefix = name + "["
        obj: dict[str, Any] = {}
        for key, values in query.items():
            if key.startswith(prefix):
                path = _DEEP.findall(key[len(name):])
                target = obj
                for part in path[:-1]:
                    target = target.setdefault(part, {})
                if path:
                    target[path[-1]] = values[0] if len(values) == 1 else values
        return obj if obj else MISSING
    if kind == "object" and spec.explode and spec.style == "form":
        obj = {k: v[0] for k, v in query.items() if k not in claimed}
        return obj if obj else MISSING
    found = query.get(name)
    if found is None:
        return MISSING
    values = found
    if kind == "array":
        if spec.explode:
            return list(values)
        sep = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(spec.style, ",")
        return values[0].split(sep) if values[0] else []
    if kind == "object":
        return _pairs_to_object(values[0].split(","))
    return values[0]


def decode_content(text: str) -> Any:
    """Decode a `content`-encoded (JSON) parameter; raise ValueError when it is not JSON."""
    return json.loads(text)


def coerce(index: SchemaIndex, schema: Any, value: Any, _depth: int = 0) -> Any:
    """Convert strings inside `value` to the types its schema admits (integer, number, boolean)."""
    if _depth > 16:
        return value
    if isinstance(value, list):
        items = index.subschema(schema, "items")
        return [coerce(index, items, v, _depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: coerce(index, index.subschema(schema, "properties", k), v, _depth + 1) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    types = index.types(schema)
    if value == "null" and "null" in types:
        enum = (index.deref(schema) or {}).get("enum") if isinstance(index.deref(schema), Mapping) else None
        if "string" not in types or (enum is not None and "null" not in enum):
            return None
    return coerce_scalar(types, value)


def coerce_scalar(types: set[str], text: str) -> Any:
    """Convert one string to the first type in `types` it parses as; else return it unchanged."""
    if not types or types == {"string"}:
        return text
    if "boolean" in types and text in ("true", "false"):
        return text == "true"
    if "integer" in types and _INT.match(text):
        return int(text)
    if "number" in types:
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(number) and text.strip() == text and text:
                return int(text) if _INT.match(text) else number
    if "null" in types and text == "null" and "string" not in types:
        return None
    if "array" in types and "string" not in types:
        return text.split(",") if text else []
    return text

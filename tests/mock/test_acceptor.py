"""The schema acceptor (`SchemaIndex.acceptor`) never says yes where the validator says no.

Request bodies, parameters and the stateful layer's stored fields are checked by a compiled
test first, and by the JSON Schema validator only when that test says no (or the schema holds
a keyword it does not judge): the validator alone explains refusals. So the acceptor may be
stricter than the schema, never looser. These tests compare it with the validator it stands in
for, on a table of keywords in both dialects and on every schema of real specifications with
generated values and their mutations.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandlot.mock.generate import Generator
from sandlot.openapi.loader import load_spec
from sandlot.openapi.schemas import SchemaIndex
from tests.mock.conftest import shared_spec

REPO = Path(__file__).resolve().parents[2]

SCALARS = [0, 1, 2, 100, 101, -5, -6, 0.5, 1.0, 2.5, 2.6, math.nan, math.inf, -math.inf, True, False, None,
           "", "a", "ab", "abcd", "abcde", "asc", "desc", "bb", "10", "a@b.example", "not an email",
           "2026-12-02T10:00:00Z", "yesterday", 2 ** 31, -(2 ** 31) - 1, [], [1], [1, 2, 3], ["a"], {}, {"a": 1}]

#: Schemas the acceptor judges itself (it must not hand them all to the validator).
JUDGED: list[dict[str, Any]] = [
    {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
    {"type": "integer", "minimum": -5},
    {"type": "number", "minimum": 0.5, "maximum": 2.5},
    {"type": "number", "exclusiveMinimum": 0.5, "exclusiveMaximum": 2.5},
    {"type": "number", "minimum": 0, "exclusiveMinimum": 1},
    {"type": "string", "minLength": 2, "maxLength": 4},
    {"type": "string", "enum": ["asc", "desc"]},
    {"type": "string", "enum": ["a", "bb"], "maxLength": 1},
    {"type": "string", "format": "email"},
    {"type": "string", "format": "date-time"},
    {"type": "integer", "format": "int32"},
    {"type": "string", "pattern": "^[a-z]+$"},
    {"type": "string", "pattern": "\\p{L}"},
    {"type": ["string", "null"], "maxLength": 2},
    {"type": "boolean"},
    {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1, "maxItems": 2},
    {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"], "additionalProperties": False},
    {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 1},
    {"type": "object", "minProperties": 1},
    {"allOf": [{"type": "integer"}, {"minimum": 2}]},
    {"anyOf": [{"type": "string", "maxLength": 1}, {"type": "integer", "maximum": 1}]},
    {"$ref": "#/components/schemas/Small"},
    {"description": "anything at all"},
    {"minLength": 2, "minimum": 3},  # keywords of a type judge values of that type only
    {},
]

#: Schemas whose keywords the acceptor does not judge: it hands them to the validator whole.
NOT_JUDGED: list[dict[str, Any]] = [
    {"type": "integer", "minimum": "1"},
    {"type": "string", "enum": ["a", 1]},
    {"type": "integer", "multipleOf": 3},
    {"type": "array", "uniqueItems": True},
    {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    {"not": {"type": "string"}},
    {"const": 3},
    {"type": "object", "patternProperties": {"^x-": {"type": "string"}}},
    {"anyOf": [{"type": "string"}], "discriminator": {"propertyName": "kind"}},
    {"$ref": "#/components/schemas/Tree"},  # recursive
    {"$ref": "#/components/schemas/Missing"},
]

COMPONENTS = {
    "Small": {"type": "integer", "maximum": 5},
    "Tree": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}}}},
}


def _index(version: str, schemas: list[dict[str, Any]]) -> SchemaIndex:
    document = {"openapi": f"{version}.0", "info": {"title": "t", "version": "1"}, "paths": {},
                "components": {"schemas": {**COMPONENTS, **{f"S{i}": s for i, s in enumerate(schemas)}}}}
    return SchemaIndex(document, version)


def _legacy(schema: dict[str, Any]) -> dict[str, Any]:
    """The same schema in OpenAPI 3.0's words (nullable; draft 4's boolean exclusive bounds)."""
    schema = copy.deepcopy(schema)
    if isinstance(schema.get("type"), list):
        schema["type"] = next(t for t in schema["type"] if t != "null")
        schema["nullable"] = True
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if bound in schema:
            schema[plain], schema[bound] = schema[bound], True
    return schema


def _mismatches(index: SchemaIndex, schema: Any, values: list[Any], direction: str) -> tuple[int, list[Any]]:
    """Return (values the acceptor passed, those of them the validator refuses)."""
    accept = index.acceptor(schema, direction)
    assert accept is not None
    validator = index.validator(schema, direction)
    passed = [v for v in values if accept(v)]
    return len(passed), [v for v in passed if not validator.is_valid(v)]


@pytest.mark.parametrize("version", ["3.0", "3.1"])
def test_the_acceptor_passes_only_what_the_validator_finds_valid(version: str) -> None:
    schemas = [_legacy(s) if version == "3.0" else s for s in JUDGED]
    index = _index(version, schemas)
    values = SCALARS + [{"a": v} for v in SCALARS] + [{"a": 1, "b": 2}, {"a": 1, "b": "x"}, [0], [1, 1, 1]]
    passed_total = 0
    for number, schema in enumerate(schemas):
        node = index.document["components"]["schemas"][f"S{number}"]
        for direction in ("request", "response"):
            passed, wrong = _mismatches(index, node, values, direction)
            assert wrong == [], (schema, wrong)
            passed_total += passed
    assert passed_total >= 400  # and it does take the common values itself


@pytest.mark.parametrize("version", ["3.0", "3.1"])
def test_the_acceptor_agrees_with_the_validator_on_the_plain_cases(version: str) -> None:
    """Not merely stricter: on these it says yes exactly where the validator does, or every
    request would pay for both."""
    schemas = [_legacy(s) if version == "3.0" else s for s in JUDGED]
    index = _index(version, schemas)
    for number, schema in enumerate(schemas):
        node = index.document["components"]["schemas"][f"S{number}"]
        accept, validator = index.acceptor(node, "request"), index.validator(node, "request")
        for value in SCALARS:
            if type(value) is float and value.is_integer():
                continue  # 1.0 is an integer to jsonschema; the acceptor leaves it to the validator
            if type(value) is float and math.isnan(value):
                continue  # NaN passes jsonschema's bounds (every comparison is false); likewise
            assert accept(value) == validator.is_valid(value), (schema, value)


@pytest.mark.parametrize("version", ["3.0", "3.1"])
def test_what_the_acceptor_does_not_judge_goes_to_the_validator(version: str) -> None:
    index = _index(version, NOT_JUDGED)
    for number, schema in enumerate(NOT_JUDGED):
        assert index.acceptor(index.document["components"]["schemas"][f"S{number}"], "request") is None, schema


def test_a_required_read_only_property_is_not_asked_of_a_request_only() -> None:
    """As the validator reads `required` by direction (openapi/schemas.py)."""
    index = _index("3.1", [{"type": "object", "required": ["id", "name"], "properties": {
        "id": {"$ref": "#/components/schemas/Id"}, "name": {"type": "string"},
        "secret": {"type": "string", "writeOnly": True}}}])
    index.document["components"]["schemas"]["Id"] = {"type": "string", "readOnly": True}
    node = index.document["components"]["schemas"]["S0"]
    assert index.acceptor(node, "request")({"name": "x"}) is True
    assert index.acceptor(node, "response")({"name": "x"}) is False
    assert index.validator(node, "request").is_valid({"name": "x"})
    assert not index.validator(node, "response").is_valid({"name": "x"})


def test_nullable_admits_null_in_3_0_only() -> None:
    schema = {"type": "string", "nullable": True, "maxLength": 2}
    for version, admitted in (("3.0", True), ("3.1", False)):
        index = _index(version, [schema])
        node = index.document["components"]["schemas"]["S0"]
        assert index.acceptor(node, "request")(None) is admitted
        assert index.validator(node, "request").is_valid(None) is admitted


# ------------------------------------------------------------------ real specifications


def _mutations(value: Any, rng: random.Random, depth: int = 0) -> Iterator[Any]:
    """Yield values near `value`: each property dropped, replaced by a wrong one, one added;
    strings emptied and lengthened; numbers pushed far out; the value replaced."""
    yield from (None, 0, -1, 10 ** 12, 0.5, "", "x" * 300, True, [], {})
    if isinstance(value, dict) and depth < 2:
        for key in list(value)[:8]:
            yield {k: v for k, v in value.items() if k != key}
            for inner in itertools.islice(_mutations(value[key], rng, depth + 1), 14):
                yield {**value, key: inner}
        yield {**value, "unexpected_property": rng.choice([1, "x", None])}
    if isinstance(value, list) and value and depth < 2:
        yield value + value
        for inner in itertools.islice(_mutations(value[0], rng, depth + 1), 8):
            yield [inner, *value[1:]]


def _schemas(document: dict[str, Any]) -> Iterator[tuple[str, Any, str]]:
    """Yield (where, schema node, direction) for request bodies, parameters and components."""
    for name, schema in ((document.get("components") or {}).get("schemas") or {}).items():
        yield f"#/components/schemas/{name}", schema, "response"
        yield f"#/components/schemas/{name}", schema, "request"
    for path, item in (document.get("paths") or {}).items():
        for method, operation in (item or {}).items():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters") or ():
                if isinstance(parameter, dict) and isinstance(parameter.get("schema"), dict):
                    yield f"{method} {path} {parameter.get('name')}", parameter["schema"], "request"
            for media, content in ((operation.get("requestBody") or {}).get("content") or {}).items():
                if isinstance(content, dict) and isinstance(content.get("schema"), dict):
                    yield f"{method} {path} {media}", content["schema"], "request"


def _spec_files() -> list[tuple[str, Path | None]]:
    local = [("kitchen30", REPO / "tests/generate/fixtures/kitchen30.yaml"),
             ("kitchen31", REPO / "tests/generate/fixtures/kitchen31.yaml")]
    return local + [("payments", None)] + [(name, None) for name in (
        "oai/petstore-expanded.yaml", "oai/uspto.yaml", "twilio/twilio_messaging_v1.json",
        "twilio/twilio_api_v2010.json")]


@pytest.mark.parametrize(("name", "path"), _spec_files(), ids=[n for n, _ in _spec_files()])
def test_on_real_specs_the_acceptor_never_passes_a_value_the_validator_refuses(
        name: str, path: Path | None, tmp_path: Path) -> None:
    if name == "payments":
        text = yaml.safe_load((REPO / "examples/payments/payments-openapi.yaml").read_text())["data"]["openapi.yaml"]
        path = tmp_path / "payments.yaml"
        path.write_text(text)
    elif path is None:
        path = shared_spec(name)
    spec = load_spec(path)
    index = SchemaIndex(spec.document, spec.version)
    generator = Generator(spec.document, openapi_version=spec.openapi)
    rng = random.Random(7)
    judged = passed = checked = 0
    for where, schema, direction in itertools.islice(_schemas(spec.document), 600):
        if index.acceptor(schema, direction) is None:
            continue
        judged += 1
        try:
            values = [generator.build(schema, random.Random(seed), direction=direction) for seed in range(2)]
        except (RecursionError, ValueError):
            continue
        values += [m for v in values for m in itertools.islice(_mutations(v, rng), 60)]
        count, wrong = _mismatches(index, schema, values, direction)
        assert wrong == [], (where, direction, wrong[:3])
        passed += count
        checked += len(values)
    assert judged >= 5 and passed >= judged, (judged, passed, checked)

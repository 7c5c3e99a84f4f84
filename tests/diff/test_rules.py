"""One hand-made OLD/NEW pair per OpenAPI rule: each must produce exactly that change, at that level.

Levels are written out here (not read from the rule table), so moving a rule to another level
fails a test. `test_every_rule_has_a_pair` keeps the tables complete as rules are added.
"""

from __future__ import annotations

import pytest

from sandlot.diff.rules import RULES, SCHEMA_SCOPES

from .helpers import PLACES, changed, document, get, json_body, operation, response
from .test_graphql import GRAPHQL_CASES

S = {"type": "string"}
I = {"type": "integer"}  # noqa: E741
DEPRECATED = {"deprecated": True}
KEY = {"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"},
                           "oauth": {"type": "oauth2", "flows": {"clientCredentials": {
                               "tokenUrl": "https://example.com/token", "scopes": {"read": "r", "write": "w"}}}}}}


def _two(**second: object) -> dict:
    """GET /a and, on the same path, POST /a with the given fields."""
    return document({"/a": {"get": operation(), "post": operation(**second)}})


def _param(**fields: object) -> dict:
    return {"name": "p", "in": "query", "schema": S, **fields}


def _secured(*requirements: dict) -> dict:
    return document({"/a": {"get": operation(security=list(requirements))}}, components=KEY)


def _headers(**header: object) -> dict:
    return {"200": {"description": "ok", "headers": {"X-Rate": {"schema": I, **header}}}}


OPERATION_CASES = [
    # paths and operations
    ("api-path-removed-without-deprecation", "error", document({"/a": {"get": operation()}, "/b": {"get": operation()}}),
     document({"/a": {"get": operation()}})),
    ("api-path-removed-with-deprecation", "warning",
     document({"/a": {"get": operation()}, "/b": {"get": operation(**DEPRECATED)}}), document({"/a": {"get": operation()}})),
    ("api-removed-without-deprecation", "error", _two(), get()),
    ("api-removed-with-deprecation", "warning", _two(**DEPRECATED), get()),
    ("api-removed-before-sunset", "error", _two(deprecated=True, **{"x-sunset": "2999-01-01"}), get()),
    ("api-method-changed", "error", get(operationId="x"), document({"/a": {"post": operation(operationId="x")}})),
    ("api-path-changed", "error", get(operationId="x"), get("/b", operationId="x")),
    ("endpoint-added", "info", get(), _two()),
    ("api-operation-id-changed", "info", get(operationId="x"), get(operationId="y")),
    ("endpoint-deprecated", "info", get(), get(**DEPRECATED)),
    ("endpoint-reactivated", "info", get(**DEPRECATED), get()),
    ("api-sunset-date-changed-earlier", "warning", get(deprecated=True, **{"x-sunset": "2027-01-01"}),
     get(deprecated=True, **{"x-sunset": "2026-06-01"})),
    # parameters
    ("new-required-request-parameter", "error", get(), get(parameters=[_param(required=True)])),
    ("new-optional-request-parameter", "info", get(), get(parameters=[_param()])),
    ("request-parameter-removed", "warning", get(parameters=[_param()]), get()),
    ("request-parameter-became-required", "error", get(parameters=[_param()]), get(parameters=[_param(required=True)])),
    ("request-parameter-became-optional", "info", get(parameters=[_param(required=True)]), get(parameters=[_param()])),
    ("request-parameter-location-changed", "error", get(parameters=[_param()]), get(parameters=[_param(**{"in": "header"})])),
    ("request-parameter-deprecated", "info", get(parameters=[_param()]), get(parameters=[_param(deprecated=True)])),
    # request bodies
    ("request-body-added-required", "error", _two(), _two(requestBody=json_body(S, required=True))),
    ("request-body-added-optional", "info", _two(), _two(requestBody=json_body(S))),
    ("request-body-became-required", "error", _two(requestBody=json_body(S)), _two(requestBody=json_body(S, required=True))),
    ("request-body-removed", "warning", _two(requestBody=json_body(S)), _two()),
    ("request-body-media-type-removed", "error",
     _two(requestBody={"content": {"application/json": {"schema": S}, "text/plain": {"schema": S}}}),
     _two(requestBody=json_body(S))),
    ("request-body-media-type-added", "info", _two(requestBody=json_body(S)),
     _two(requestBody={"content": {"application/json": {"schema": S}, "text/plain": {"schema": S}}})),
    ("new-required-request-property", "error", _two(requestBody=json_body({"type": "object", "properties": {"a": S}})),
     _two(requestBody=json_body({"type": "object", "properties": {"a": S, "b": S}, "required": ["b"]}))),
    ("new-optional-request-property", "info", _two(requestBody=json_body({"type": "object", "properties": {"a": S}})),
     _two(requestBody=json_body({"type": "object", "properties": {"a": S, "b": S}}))),
    ("request-property-became-required", "error", _two(requestBody=json_body({"type": "object", "properties": {"a": S}})),
     _two(requestBody=json_body({"type": "object", "properties": {"a": S}, "required": ["a"]}))),
    ("request-property-became-optional", "info",
     _two(requestBody=json_body({"type": "object", "properties": {"a": S}, "required": ["a"]})),
     _two(requestBody=json_body({"type": "object", "properties": {"a": S}}))),
    ("request-property-removed", "warning", _two(requestBody=json_body({"type": "object", "properties": {"a": S, "b": S}})),
     _two(requestBody=json_body({"type": "object", "properties": {"a": S}}))),
    # responses
    ("response-success-status-removed", "error", get(responses={"200": {"description": "ok"}, "201": {"description": "ok"}}),
     get()),
    ("response-non-success-status-removed", "warning",
     get(responses={"200": {"description": "ok"}, "404": {"description": "no"}}), get()),
    ("response-success-status-added", "warning", get(),
     get(responses={"200": {"description": "ok"}, "202": {"description": "later"}})),
    ("response-non-success-status-added", "info", get(),
     get(responses={"200": {"description": "ok"}, "default": {"description": "problem"}})),
    ("response-media-type-removed", "error",
     get(responses={"200": {"description": "ok", "content": {"application/json": {"schema": S}, "text/csv": {}}}}),
     get(responses=response(S))),
    ("response-media-type-added", "info", get(responses=response(S)),
     get(responses={"200": {"description": "ok", "content": {"application/json": {"schema": S}, "text/csv": {}}}})),
    ("required-response-header-removed", "error", get(responses=_headers(required=True)), get()),
    ("optional-response-header-removed", "warning", get(responses=_headers()), get()),
    ("response-header-became-optional", "error", get(responses=_headers(required=True)), get(responses=_headers())),
    ("response-required-property-removed", "error",
     get(responses=response({"type": "object", "properties": {"a": S, "b": S}, "required": ["b"]})),
     get(responses=response({"type": "object", "properties": {"a": S}}))),
    ("response-optional-property-removed", "warning", get(responses=response({"type": "object", "properties": {"a": S, "b": S}})),
     get(responses=response({"type": "object", "properties": {"a": S}}))),
    ("response-property-became-optional", "error",
     get(responses=response({"type": "object", "properties": {"a": S}, "required": ["a"]})),
     get(responses=response({"type": "object", "properties": {"a": S}}))),
    ("response-required-property-added", "info", get(responses=response({"type": "object", "properties": {"a": S}})),
     get(responses=response({"type": "object", "properties": {"a": S, "b": S}, "required": ["b"]}))),
    ("response-optional-property-added", "info", get(responses=response({"type": "object", "properties": {"a": S}})),
     get(responses=response({"type": "object", "properties": {"a": S, "b": S}}))),
    # security
    ("api-security-became-required", "error", _secured(), _secured({"key": []})),
    ("api-security-removed", "error", _secured({"key": []}, {"oauth": ["read"]}), _secured({"oauth": ["read"]})),
    ("api-security-scope-added", "error", _secured({"oauth": ["read"]}), _secured({"oauth": ["read", "write"]})),
    ("api-security-added", "info", _secured({"key": []}), _secured({"key": []}, {"oauth": []})),
    ("api-security-scope-removed", "info", _secured({"oauth": ["read", "write"]}), _secured({"oauth": ["read"]})),
]

# Schema rules, one pair per rule suffix and side; each is tried wherever a schema may sit.
_NUMBER = {"type": "integer"}
_ARRAY = {"type": "array", "items": S}
REQUEST_SCHEMA_CASES = [
    ("type-changed", "error", S, I),
    ("type-generalized", "info", I, {"type": "number"}),
    ("became-enum", "error", S, {"type": "string", "enum": ["a", "b"]}),
    ("enum-value-removed", "error", {"type": "string", "enum": ["a", "b"]}, {"type": "string", "enum": ["a"]}),
    ("enum-value-added", "info", {"type": "string", "enum": ["a"]}, {"type": "string", "enum": ["a", "b"]}),
    ("pattern-added", "error", S, {"type": "string", "pattern": "^a"}),
    ("pattern-changed", "warning", {"type": "string", "pattern": "^a"}, {"type": "string", "pattern": "^b"}),
    ("max-decreased", "error", {**_NUMBER, "maximum": 10}, {**_NUMBER, "maximum": 5}),
    ("min-increased", "error", _NUMBER, {**_NUMBER, "minimum": 1}),
    ("max-length-decreased", "error", {"type": "string", "maxLength": 10}, {"type": "string", "maxLength": 5}),
    ("min-length-increased", "error", {"type": "string", "minLength": 1}, {"type": "string", "minLength": 2}),
    ("max-items-decreased", "error", {**_ARRAY, "maxItems": 10}, {**_ARRAY, "maxItems": 9}),
    ("min-items-increased", "error", _ARRAY, {**_ARRAY, "minItems": 1}),
    ("became-not-nullable", "error", {"type": "string", "nullable": True}, S),
    ("one-of-removed", "error", {"oneOf": [S, I, {"type": "boolean"}]}, {"oneOf": [S, I]}),
    ("any-of-removed", "error", {"anyOf": [S, I, {"type": "boolean"}]}, {"anyOf": [S, I]}),
]
RESPONSE_SCHEMA_CASES = [
    ("type-changed", "error", I, S),
    ("type-specialized", "info", {"type": "number"}, I),
    ("became-not-enum", "error", {"type": "string", "enum": ["a"]}, S),
    ("enum-value-added", "error", {"type": "string", "enum": ["a"]}, {"type": "string", "enum": ["a", "b"]}),
    ("enum-value-removed", "info", {"type": "string", "enum": ["a", "b"]}, {"type": "string", "enum": ["a"]}),
    ("became-nullable", "error", S, {"type": ["string", "null"]}),
    ("pattern-removed", "warning", {"type": "string", "pattern": "^a"}, S),
    ("pattern-changed", "warning", {"type": "string", "pattern": "^a"}, {"type": "string", "pattern": "^b"}),
    ("max-increased", "warning", {**_NUMBER, "maximum": 5}, {**_NUMBER, "maximum": 10}),
    ("min-decreased", "warning", {**_NUMBER, "minimum": 1}, _NUMBER),
    ("max-length-increased", "warning", {"type": "string", "maxLength": 5}, {"type": "string", "maxLength": 10}),
    ("min-length-decreased", "warning", {"type": "string", "minLength": 2}, {"type": "string", "minLength": 1}),
    ("max-items-increased", "warning", {**_ARRAY, "maxItems": 5}, _ARRAY),
    ("min-items-decreased", "warning", {**_ARRAY, "minItems": 2}, {**_ARRAY, "minItems": 1}),
    ("one-of-added", "error", {"oneOf": [S, I]}, {"oneOf": [S, I, {"type": "boolean"}]}),
    ("any-of-added", "error", {"anyOf": [S, I]}, {"anyOf": [S, I, {"type": "boolean"}]}),
]
SCHEMA_CASES = [
    (f"{scope}-{suffix}", level, PLACES[scope](old), PLACES[scope](new))
    for scope, (side, _) in SCHEMA_SCOPES.items()
    for suffix, level, old, new in (REQUEST_SCHEMA_CASES if side == "request" else RESPONSE_SCHEMA_CASES)
]


@pytest.mark.parametrize("rule, level, old, new", OPERATION_CASES + SCHEMA_CASES,
                         ids=[case[0] for case in OPERATION_CASES + SCHEMA_CASES])
def test_each_rule_fires_alone_at_its_level(rule, level, old, new):
    assert changed(old, new) == [(rule, level)]


@pytest.mark.parametrize("rule, level, old, new", OPERATION_CASES + SCHEMA_CASES,
                         ids=[case[0] for case in OPERATION_CASES + SCHEMA_CASES])
def test_each_pair_compared_with_itself_is_no_change(rule, level, old, new):
    assert changed(old, old) == [] and changed(new, new) == []


def test_every_rule_has_a_pair():
    tested = {case[0] for case in OPERATION_CASES + SCHEMA_CASES} | {case[0] for case in GRAPHQL_CASES}
    assert tested == set(RULES), f"untested: {sorted(set(RULES) - tested)}; unknown: {sorted(tested - set(RULES))}"


def test_messages_name_what_changed_and_where():
    found = {c.id: c for c in __import__("sandlot.diff.openapi", fromlist=["x"]).diff_openapi(
        get(parameters=[_param(schema={"type": "integer", "maximum": 100})]),
        get(parameters=[_param(schema={"type": "integer", "maximum": 10})]))}
    change = found["request-parameter-max-decreased"]
    assert change.message == "query parameter 'p' maximum is now 10 (was 100)"
    assert (change.method, change.path, change.operation) == ("GET", "/a", "GET /a")
    assert change.old.pointer == change.new.pointer == "/paths/~1a/get/parameters/0/schema"


def test_a_bound_removed_from_a_request_or_set_on_a_response_is_no_change():
    loose, tight = {**_NUMBER}, {**_NUMBER, "maximum": 5}
    assert changed(PLACES["request-body"](tight), PLACES["request-body"](loose)) == []
    assert changed(PLACES["response-body"](loose), PLACES["response-body"](tight)) == []


def test_exclusive_bounds_of_3_0_and_3_1_compare_as_the_same_bound():
    old = PLACES["request-body"]({**_NUMBER, "maximum": 10, "exclusiveMaximum": True})
    new = PLACES["request-body"]({**_NUMBER, "exclusiveMaximum": 10})
    assert changed(old, new) == []
    assert changed(old, PLACES["request-body"]({**_NUMBER, "maximum": 9, "exclusiveMaximum": True})) == [
        ("request-body-max-decreased", "error")]


def test_removing_the_whole_path_of_a_deprecated_operation_before_its_sunset_is_an_error():
    old = document({"/a": {"get": operation()}, "/b": {"get": operation(deprecated=True, **{"x-sunset": "2999-12-31"})}})
    assert changed(old, get()) == [("api-removed-before-sunset", "error")]


def test_a_new_required_property_that_is_read_only_is_not_a_request_change():
    old = _two(requestBody=json_body({"type": "object", "properties": {"a": S}}))
    new = _two(requestBody=json_body({"type": "object", "properties": {"a": S, "id": {**S, "readOnly": True}},
                                      "required": ["id"]}))
    assert changed(old, new) == []


def test_a_removed_write_only_property_is_not_a_response_change():
    old = get(responses=response({"type": "object", "properties": {"a": S, "pw": {**S, "writeOnly": True}}}))
    assert changed(old, get(responses=response({"type": "object", "properties": {"a": S}}))) == []

"""The checks of one real exchange against the spec (mock/conformance.py), on exact findings:
every rule the drift proxy records, made by the mock's own request validation and response
validators."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandlot.mock.conformance import RULES, Finding, check_request, check_response
from sandlot.mock.engine import Engine
from sandlot.mock.messages import MockRequest

from .conftest import PETS

AUTH = {"authorization": "Bearer sk_test_123"}
JSON = [("content-type", "application/json")]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_source(str(PETS))


def request_findings(engine: Engine, method: str, path: str, query: str = "", headers: dict | None = None,
                     body: bytes = b"") -> list[tuple]:
    req = MockRequest(method, path, query, headers if headers is not None else AUTH, body)
    return [(f.rule, f.location, f.pointer, f.message) for f in check_request(engine, req, engine.match(req))]


def response_findings(engine: Engine, method: str, path: str, status: int, headers: list, body: bytes) -> list[tuple]:
    req = MockRequest(method, path, "", AUTH)
    match = engine.match(req)
    return [(f.rule, f.status, f.location, f.pointer, f.at, f.value, f.message)
            for f in check_response(engine, req, match, status, headers, body)]


def test_a_request_that_matches_the_spec_has_no_finding(engine: Engine) -> None:
    assert request_findings(engine, "GET", "/pets", "limit=5") == []
    assert request_findings(engine, "POST", "/pets", headers={**AUTH, "content-type": "application/json"},
                            body=b'{"name": "Rex"}') == []


@pytest.mark.parametrize("method, path, query, headers, body, expected", [
    ("GET", "/admin/stats", "", AUTH, b"",
     [("request-operation-undocumented", "operation", "", "no documented path matches /admin/stats")]),
    ("PUT", "/pets/1", "", AUTH, b"",
     [("request-operation-undocumented", "operation", "", "PUT is not documented for /pets/{petId}; allowed: GET, DELETE")]),
    ("GET", "/pets", "", {}, b"",
     [("request-credentials-missing", "header", "/Authorization",
       "security scheme 'bearer' needs an `Authorization: Bearer ...` header")]),
    ("GET", "/pets", "limit=0", AUTH, b"",
     [("request-parameter-invalid", "query", "/limit", "0 is less than the minimum of 1")]),
    ("GET", "/pets/abc", "", AUTH, b"",
     [("request-parameter-invalid", "path", "/petId", "'abc' is not of type 'integer'")]),
    ("POST", "/pets", "", {**AUTH, "content-type": "text/plain"}, b"Rex",
     [("request-content-type-undocumented", "header", "/content-type",
       "unsupported media type; expected one of: application/json")]),
    ("POST", "/pets", "", {**AUTH, "content-type": "application/json"}, b'{"name": ""}',
     [("request-body-invalid", "body", "/name", "'' should be non-empty")]),
    ("POST", "/pets", "", {**AUTH, "content-type": "application/json"}, b"{",
     [("request-body-invalid", "body", "",
       "malformed body: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))")]),
])
def test_request_findings(engine: Engine, method: str, path: str, query: str, headers: dict, body: bytes,
                          expected: list) -> None:
    assert request_findings(engine, method, path, query, headers, body) == expected


def test_a_response_that_matches_the_spec_has_no_finding(engine: Engine) -> None:
    pets = {"data": [{"id": 1, "name": "Rex", "status": "available", "born": "2020-02-29", "tags": ["good"]}]}
    assert response_findings(engine, "GET", "/pets", 200, [*JSON, ("X-Request-Id", "r1")],
                             json.dumps(pets).encode()) == []
    assert response_findings(engine, "DELETE", "/pets/1", 204, [], b"") == []
    assert response_findings(engine, "GET", "/pets/9", 404, [("content-type", "application/json; charset=utf-8")],
                             b'{"error": "no such pet"}') == []


def test_every_body_rule_on_one_list_response(engine: Engine) -> None:
    pets = {"data": [
        {"id": 1, "name": "Rex", "status": "available"},
        {"id": "7", "name": "Tom", "status": "pending", "owner_email": "tom@example.com", "born": "yesterday"},
        {"id": 3, "name": "Kit", "tags": [1]},
    ]}
    assert response_findings(engine, "GET", "/pets", 200, JSON, json.dumps(pets).encode()) == [
        ("response-header-missing", 200, "header", "/x-request-id", "/x-request-id", None,
         "the required response header 'X-Request-Id' is missing"),
        ("response-type-mismatch", 200, "body", "/data/*/id", "/data/1/id", "7", "'7' is not of type 'integer'"),
        ("response-value-undocumented", 200, "body", "/data/*/status", "/data/1/status", "pending",
         "'pending' is not one of ['available', 'sold']"),
        ("response-format-mismatch", 200, "body", "/data/*/born", "/data/1/born", "yesterday",
         "'yesterday' is not a 'date'"),
        ("response-property-missing", 200, "body", "/data/*/status", "/data/2/status", None,
         "'status' is a required property"),
        ("response-type-mismatch", 200, "body", "/data/*/tags/*", "/data/2/tags/0", 1, "1 is not of type 'string'"),
        ("response-property-undocumented", 200, "body", "/data/*/owner_email", "/data/1/owner_email",
         "tom@example.com", "'owner_email' is not a property the schema declares"),
    ]


@pytest.mark.parametrize("method, path, status, headers, body, expected", [
    ("GET", "/pets/2", 500, [("content-type", "text/html")], b"<h1>Internal error</h1>",
     [("response-status-undocumented", 500, "status", "", "", None,
       "status 500 is not documented for GET /pets/{petId} (documented: 200, 404)")]),
    ("GET", "/pets/3", 200, [("content-type", "text/html")], b"<p>Rex</p>",
     [("response-content-type-undocumented", 200, "content-type", "", "", "text/html",
       "Content-Type 'text/html' is not documented for 200 (documented: application/json)")]),
    ("GET", "/pets/3", 200, [], b'{"id": 3}',
     [("response-content-type-undocumented", 200, "content-type", "", "", None,
       "Content-Type '(none)' is not documented for 200 (documented: application/json)")]),
    ("GET", "/pets/4", 200, JSON, b"{",
     [("response-body-malformed", 200, "body", "", "", None,
       "the application/json body does not parse: Expecting property name enclosed in double quotes: "
       "line 1 column 2 (char 1)")]),
    ("GET", "/pets/5", 200, JSON, b"",
     [("response-body-missing", 200, "body", "", "", None, "the 200 response has no body; documented: application/json")]),
    ("DELETE", "/pets/1", 204, JSON, b"{}",
     [("response-body-undocumented", 204, "body", "", "", None,
       "the 204 response has a body (application/json, 2 bytes) where the spec documents none")]),
    ("GET", "/pets/9", 404, JSON, b'{"message": "gone"}',
     [("response-property-missing", 404, "body", "/error", "/error", None, "'error' is a required property"),
      ("response-property-undocumented", 404, "body", "/message", "/message", "gone",
       "'message' is not a property the schema declares")]),
    ("GET", "/pets/1", 200, JSON, b'{"id": 1, "name": "Rex", "status": "sold", "born": 2020}',
     [("response-type-mismatch", 200, "body", "/born", "/born", 2020, "2020 is not of type 'string'")]),
    ("GET", "/pets/1", 200, JSON, b'[]',
     [("response-type-mismatch", 200, "body", "", "", [], "[] is not of type 'object'")]),
])
def test_response_findings(engine: Engine, method: str, path: str, status: int, headers: list, body: bytes,
                           expected: list) -> None:
    assert response_findings(engine, method, path, status, headers, body) == expected


def test_properties_of_an_open_map_or_a_free_form_object_are_documented(tmp_path: Path) -> None:
    spec = tmp_path / "maps.yaml"
    spec.write_text("""
openapi: 3.1.0
info: {title: maps, version: "1"}
paths:
  /things:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                type: object
                properties:
                  labels: {type: object, additionalProperties: {type: string}}
                  meta: {type: object}
                  strict: {type: object, properties: {a: {type: integer}}, additionalProperties: false}
                  both:
                    allOf:
                      - {type: object, properties: {x: {type: integer}}}
                      - {type: object, properties: {y: {type: integer}}}
""")
    engine = Engine.from_source(str(spec))
    body = {"labels": {"any": "thing", "bad": 1}, "meta": {"free": True}, "strict": {"a": 1, "b": 2},
            "both": {"x": 1, "y": 2, "z": 3}}
    assert response_findings(engine, "GET", "/things", 200, JSON, json.dumps(body).encode()) == [
        ("response-type-mismatch", 200, "body", "/labels/bad", "/labels/bad", 1, "1 is not of type 'string'"),
        ("response-property-undocumented", 200, "body", "/strict/b", "/strict/b", 2,
         "'b' is not a property the schema declares"),
        ("response-property-undocumented", 200, "body", "/both/z", "/both/z", 3,
         "'z' is not a property the schema declares"),
    ]


def test_every_rule_has_a_level_and_findings_name_known_rules() -> None:
    assert {r.level for r in RULES.values()} == {"error", "warning"}
    assert all(rule.startswith(("request-", "response-")) for rule in RULES)
    assert Finding("response-property-undocumented", "body", "/x", "m").level == "warning"
    assert Finding("response-property-missing", "body", "/x", "m").level == "error"

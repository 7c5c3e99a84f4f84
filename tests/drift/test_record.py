"""`--record DIR` (drift/record.py) on exact files: one file per distinct response, a limit per
operation and status, and examples added to the operation's own copy of a shared response."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandlot.drift import record
from sandlot.drift.record import Recorder, with_recorded_examples
from sandlot.drift.upstream import UpstreamResponse
from sandlot.mock.conformance import Finding
from sandlot.mock.engine import Engine, Match
from sandlot.mock.messages import MockRequest

from .conftest import PETS

JSON = [("content-type", "application/json")]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_source(str(PETS))


def routed(engine: Engine, method: str, path: str, query: str = "") -> tuple[MockRequest, Match]:
    req = MockRequest(method, path, query, {"authorization": "Bearer sk_test_abcdefghijkl"})
    match = engine.match(req)
    assert isinstance(match, Match)
    return req, match


def test_a_response_is_kept_once_redacted(engine: Engine, tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, "http://up")
    req, match = routed(engine, "GET", "/pets/1", "api_key=abc&limit=1")
    real = UpstreamResponse(200, [*JSON, ("set-cookie", "s=1")], b'{"id": 1, "name": "Rex", "status": "sold", '
                                                                  b'"secret": "x"}')
    path = recorder.save(match, req, real, [])
    assert path is not None and path.parent == tmp_path / "responses" / "getPet"
    assert recorder.save(match, req, real, []) is None  # the same response again
    saved = json.loads(path.read_text())
    assert {k: v for k, v in saved.items() if k != "recordedAt"} == {
        "operation": "GET /pets/{petId}", "operationId": "getPet",
        "request": {"method": "GET", "path": "/pets/1", "query": "api_key=REDACTED&limit=1"},
        "status": 200, "mediaType": "application/json",
        "body": {"id": 1, "name": "Rex", "status": "sold", "secret": "REDACTED"},
        "headers": [["content-type", "application/json"], ["set-cookie", "REDACTED"]],
        "drift": [], "upstream": "http://up"}


def test_at_most_the_limit_per_operation_and_status(engine: Engine, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(record, "RECORD_LIMIT", 2)
    recorder = Recorder(tmp_path, "http://up")
    req, match = routed(engine, "GET", "/pets/1")
    kept = [recorder.save(match, req, UpstreamResponse(200, JSON, json.dumps({"id": i}).encode()), [])
            for i in range(4)]
    assert [p is not None for p in kept] == [True, True, False, False]
    assert recorder.save(match, req, UpstreamResponse(404, JSON, b'{"error": "gone"}'), []) is not None


def test_examples_go_to_the_operations_own_copy_of_a_shared_response(engine: Engine) -> None:
    recorded = [
        {"operation": "GET /pets/{petId}", "status": 404, "mediaType": "application/json",
         "body": {"error": "no pet 5"}, "drift": [], "recordedAt": 2},
        {"operation": "GET /pets/{petId}", "status": 404, "mediaType": "application/json",
         "body": {"error": "no pet 4"}, "drift": [], "recordedAt": 1},
        {"operation": "GET /pets/{petId}", "status": 404, "mediaType": "application/json",
         "body": {"message": "drifted"}, "drift": ["response-property-missing"], "recordedAt": 3},
        {"operation": "GET /gone", "status": 200, "mediaType": "application/json", "body": {}, "drift": [],
         "recordedAt": 4},
    ]
    document = with_recorded_examples(engine, recorded)
    get_404 = document["paths"]["/pets/{petId}"]["get"]["responses"]["404"]
    assert get_404["content"]["application/json"]["examples"] == {
        "recorded-1": {"summary": "a real response, recorded by sandlot mock --proxy", "value": {"error": "no pet 4"}},
        "recorded-2": {"summary": "a real response, recorded by sandlot mock --proxy", "value": {"error": "no pet 5"}},
    }
    assert document["paths"]["/pets/{petId}"]["delete"]["responses"]["404"] == {
        "$ref": "#/components/responses/NotFound"}
    assert "examples" not in document["components"]["responses"]["NotFound"]["content"]["application/json"]


def test_findings_of_the_response_are_listed(engine: Engine, tmp_path: Path) -> None:
    req, match = routed(engine, "GET", "/pets/2")
    real = UpstreamResponse(500, [("content-type", "text/html")], b"<h1>oops</h1>")
    finding = Finding("response-status-undocumented", "status", "", "status 500 is not documented", 500)
    saved = json.loads(Recorder(tmp_path, "http://up").save(match, req, real, [finding]).read_text())
    assert (saved["body"], saved["mediaType"], saved["drift"]) == ("<h1>oops</h1>", "text/html",
                                                                   ["response-status-undocumented"])

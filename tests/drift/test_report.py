"""The drift report's formats on exact output (drift/report.py), the record they read (drift/store.py)
and the `--fail-on` exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandlot.drift.report import as_data, exit_code, render, where
from sandlot.drift.store import DriftRecord, DriftStore, Group, OperationCount
from sandlot.mock.conformance import Finding

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z

RECORD = DriftRecord(
    upstream="https://api.staging.example.com/v1", spec="pets.yaml",
    groups=[
        Group("GET /pets/{petId}", "response-property-missing", 200, "body", "/status", 3, T0, T0 + 65,
              {"message": "'status' is a required property", "request": "GET /pets/3", "status": 200}),
        Group("GET /pets", "request-parameter-invalid", None, "query", "/limit", 1, T0 + 5, T0 + 5,
              {"message": "0 is less than the minimum of 1", "request": "GET /pets?limit=0", "status": 200}),
        Group("GET /pets", "response-property-undocumented", 200, "body", "/data/*/owner_email", 2, T0, T0 + 1,
              {"message": "'owner_email' is not a property the schema declares", "request": "GET /pets",
               "status": 200, "at": "/data/1/owner_email", "value": "REDACTED"}),
    ],
    operations=[OperationCount("GET /pets", 4, 2), OperationCount("GET /pets/{petId}", 10, 3)],
)


def test_text() -> None:
    assert render(RECORD, "text") == """\
Drift against https://api.staging.example.com/v1 (pets.yaml): 3 findings (1 error, 2 warnings), seen 6 times; 5 of 14 requests drifted

error    response-property-missing  GET /pets/{petId}  200 body /status
         'status' is a required property
         seen 3 times, first 2027-01-15T08:00:00Z, last 2027-01-15T08:01:05Z
         sample: GET /pets/3 -> 200
warning  request-parameter-invalid  GET /pets  query limit
         0 is less than the minimum of 1
         seen 1 time, first 2027-01-15T08:00:05Z, last 2027-01-15T08:00:05Z
         sample: GET /pets?limit=0 -> 200
warning  response-property-undocumented  GET /pets  200 body /data/*/owner_email
         'owner_email' is not a property the schema declares
         seen 2 times, first 2027-01-15T08:00:00Z, last 2027-01-15T08:00:01Z
         sample: GET /pets -> 200
         value: "REDACTED"

Requests per operation:
  GET /pets          4 requests, 2 drifted
  GET /pets/{petId}  10 requests, 3 drifted
"""


def test_markdown() -> None:
    assert render(RECORD, "markdown") == """\
## Drift against https://api.staging.example.com/v1 (pets.yaml): 3 findings (1 error, 2 warnings), seen 6 times; 5 of 14 requests drifted

| level | rule | operation | where | count | first seen | last seen | sample |
|---|---|---|---|---|---|---|---|
| error | `response-property-missing` | `GET /pets/{petId}` | `200 body /status` | 3 | 2027-01-15T08:00:00Z | 2027-01-15T08:01:05Z | 'status' is a required property (`GET /pets/3 -> 200`) |
| warning | `request-parameter-invalid` | `GET /pets` | `query limit` | 1 | 2027-01-15T08:00:05Z | 2027-01-15T08:00:05Z | 0 is less than the minimum of 1 (`GET /pets?limit=0 -> 200`) |
| warning | `response-property-undocumented` | `GET /pets` | `200 body /data/*/owner_email` | 2 | 2027-01-15T08:00:00Z | 2027-01-15T08:00:01Z | 'owner_email' is not a property the schema declares (`GET /pets -> 200`) |
"""


def test_json() -> None:
    data = json.loads(render(RECORD, "json"))
    assert data == as_data(RECORD)
    assert data["summary"] == {"findings": 3, "error": 1, "warning": 2, "occurrences": 6, "requests": 14,
                               "drifted": 5}
    assert data["findings"][0] == {
        "operation": "GET /pets/{petId}", "method": "GET", "path": "/pets/{petId}",
        "rule": "response-property-missing", "level": "error", "status": 200, "location": "body",
        "pointer": "/status", "count": 3, "firstSeen": "2027-01-15T08:00:00Z", "lastSeen": "2027-01-15T08:01:05Z",
        "sample": {"message": "'status' is a required property", "request": "GET /pets/3", "status": 200}}
    assert data["operations"] == [{"operation": "GET /pets", "requests": 4, "drifted": 2},
                                  {"operation": "GET /pets/{petId}", "requests": 10, "drifted": 3}]


def test_an_empty_record() -> None:
    empty = DriftRecord(None, None, [], [])
    assert render(empty, "text") == "No drift recorded yet: no request went through the proxy.\n"
    clean = DriftRecord("http://x", "s.yaml", [], [OperationCount("GET /a", 2, 0)])
    assert render(clean, "text") == ("Drift against http://x (s.yaml): 0 findings (0 errors, 0 warnings), seen 0 "
                                     "times; 0 of 2 requests drifted\n\nRequests per operation:\n"
                                     "  GET /a  2 requests, 0 drifted\n")
    assert render(clean, "markdown").endswith("No drift: every request and response matched the spec.\n")


@pytest.mark.parametrize("fail_on, code", [(None, 0), ("error", 1), ("warning", 1)])
def test_exit_codes(fail_on: str | None, code: int) -> None:
    assert exit_code(RECORD, fail_on) == code
    warnings_only = DriftRecord(None, None, RECORD.groups[1:], RECORD.operations)
    assert exit_code(warnings_only, "error") == 0 and exit_code(warnings_only, "warning") == 1


def test_where_names_the_place() -> None:
    assert [where(g) for g in RECORD.groups] == ["200 body /status", "query limit", "200 body /data/*/owner_email"]


def test_the_store_counts_a_group_once_per_request_and_keeps_the_first_sample(tmp_path: Path) -> None:
    store = DriftStore(tmp_path / "d" / "drift.db")
    store.describe("http://up", "pets.yaml")
    twice = [Finding("response-type-mismatch", "body", "/data/*/id", "'7' is not of type 'integer'", 200,
                     f"/data/{i}/id", "7") for i in (1, 2)]
    store.add("GET /pets", twice, [{"n": 1}, {"n": 2}], T0)
    store.add("GET /pets", twice[:1], [{"n": 3}], T0 + 10)
    store.add("GET /pets", [], [], T0 + 20)
    store.close()
    record = DriftStore(tmp_path / "d" / "drift.db", create=False).read()
    assert record.groups == [Group("GET /pets", "response-type-mismatch", 200, "body", "/data/*/id", 2, T0,
                                   T0 + 10, {"n": 1})]
    assert record.operations == [OperationCount("GET /pets", 3, 2)]
    assert (record.upstream, record.spec) == ("http://up", "pets.yaml")

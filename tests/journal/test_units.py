"""The journal's pure pieces on exact outputs: redaction, explanations, filters, HAR, snippets,
the config's `journal:` settings and the command line's table."""

from __future__ import annotations

import pytest

from sandlot.cli.requests import detail, table
from sandlot.mock.engine import Engine
from sandlot.mock.explain import closest_routes, route_distance
from sandlot.openapi.loader import Spec
from sandlot.state.config import ConfigError, config_from_dict
from sandlot.state.journal import JournalQuery, JournalSettings, example_snippet, fixture_snippet, parse_filters, to_har
from sandlot.state.redact import redact_body, redact_header, redact_headers, redact_query, secret_names


def test_headers_are_redacted_by_name_and_by_value() -> None:
    assert redact_headers([
        ("authorization", "Bearer sk_sbx_abcdefghijkl"), ("proxy-authorization", "Basic dXNlcjpwYXNz"),
        ("cookie", "session=abc; theme=dark"), ("x-api-key", "k-123"), ("x-sandlot-admin-token", "adm_x"),
        ("x-custom", "carries sk_live_abcdef123 inside"), ("x-signature", "t=1,v1=ff"),
        ("www-authenticate", 'Bearer realm="sandlot"'), ("idempotency-key", "order-7"),
        ("content-type", "application/json"), ("x-partner", "p-1")], extra=frozenset({"x-partner"})) == {
        "authorization": "Bearer [redacted]", "proxy-authorization": "Basic [redacted]",
        "cookie": "session=[redacted]; theme=[redacted]", "x-api-key": "[redacted]",
        "x-sandlot-admin-token": "[redacted]", "x-custom": "carries sk_live_[redacted] inside",
        "x-signature": "[redacted]", "www-authenticate": 'Bearer realm="sandlot"',
        "idempotency-key": "order-7", "content-type": "application/json", "x-partner": "[redacted]"}
    assert redact_header("set-cookie", "a=1; Path=/") == "[redacted]"
    assert redact_header("authorization", "opaque") == "[redacted]"


def test_query_and_bodies_are_redacted() -> None:
    assert redact_query("limit=2&api_key=abc&access_token=t&starting_after=cus_1&key=whsec_abcdefgh") == \
        "limit=2&api_key=[redacted]&access_token=[redacted]&starting_after=cus_1&key=whsec_[redacted]"
    assert redact_query("sig=1", extra=frozenset({"sig"})) == "sig=[redacted]"
    assert redact_body('{"email": "a@b.c", "password": "p\\"w", "nested": {"client_secret": "s"}, '
                       '"next_page_token": "keep", "token": 5}') == \
        '{"email": "a@b.c", "password": "[redacted]", "nested": {"client_secret": "[redacted]"}, ' \
        '"next_page_token": "keep", "token": 5}'
    assert redact_body("user=ada&password=hunter2&token=x") == "user=ada&password=[redacted]&token=[redacted]"
    assert redact_body('{"key": "sk_sbx_abcdefghijk"') == '{"key": "sk_sbx_[redacted]"'  # cut short: still found


def test_secret_names_come_from_the_spec_api_key_schemes() -> None:
    document = {"components": {"securitySchemes": {
        "header": {"type": "apiKey", "in": "header", "name": "X-Partner"},
        "query": {"type": "apiKey", "in": "query", "name": "sig"},
        "bearer": {"type": "http", "scheme": "bearer"}}}}
    assert secret_names(document) == frozenset({"x-partner", "sig"})


SPEC = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "servers": [{"url": "https://x/v1"}],
        "paths": {"/customers": {"get": {"operationId": "listCustomers", "responses": {"200": {"description": "ok"}}},
                                 "post": {"operationId": "createCustomer", "responses": {"201": {"description": "ok"}}}},
                  "/customers/{id}": {"get": {"operationId": "getCustomer", "responses": {"200": {"description": "ok"}}}},
                  "/charges": {"get": {"operationId": "listCharges", "responses": {"200": {"description": "ok"}}}}}}


def test_closest_routes_rank_documented_routes_by_segment_edits() -> None:
    engine = Engine(Spec(SPEC, "<test>", "3.1.0"))
    assert route_distance("/customers/cus_1", "/customers/{id}") == 0
    assert route_distance("/customer/cus_1", "/customers/{id}") == 0.059
    assert route_distance("/customers/cus_1/cards", "/customers/{id}") == 1
    assert closest_routes(engine, "GET", "/v1/custmers/cus_1") == [
        {"method": "GET", "path": "/v1/customers/{id}", "operation": "getCustomer", "distance": 0.059},
        {"method": "GET", "path": "/v1/customers", "operation": "listCustomers", "distance": 1.059},
        {"method": "POST", "path": "/v1/customers", "operation": "createCustomer", "distance": 1.559}]
    assert closest_routes(engine, "GET", "/v1/totally/else/here/now") == []


def test_filters_are_read_from_the_query_and_refused_with_the_fix() -> None:
    now = 1_800_000_000.0
    assert parse_filters({"operation": "createCharge", "method": "post", "path": "/v1/ch", "status": "4xx,500",
                          "scenario": "slow", "errors": "true", "since": "10m", "after": "7", "q": "cus_1",
                          "limit": "5000"}, now) == JournalQuery(
        operation="createCharge", method="POST", path="/v1/ch", statuses=((400, 499), (500, 500)),
        scenario="slow", errors=True, since=now - 600, after=7, text="cus_1", limit=1000)
    assert parse_filters({"since": "2027-01-15T08:00:00Z", "status": "200-299"}, now) == JournalQuery(
        since=1_800_000_000.0, statuses=((200, 299),))
    assert parse_filters({}, now) == JournalQuery()
    for bad, word in (({"status": "ok"}, "status"), ({"errors": "maybe"}, "errors"), ({"limit": "x"}, "limit"),
                      ({"since": "yesterday"}, "since"), ({"since": "2027-13-01T00:00Z"}, "since")):
        with pytest.raises(ValueError, match=word):
            parse_filters(bad, now)


ENTRY = {
    "id": 7, "at": 1_800_000_000.0, "time": "2027-01-15T08:00:00.000Z", "tenant": "ten_1", "method": "POST",
    "path": "/v1/customers", "query": "expand=x", "url": "/v1/customers?expand=x", "operation": "createCustomer",
    "status": 201, "duration_ms": 1.5, "scenario": None, "validation_errors": 0,
    "request": {"headers": {"content-type": "application/json", "authorization": "Bearer [redacted]"},
                "body": '{"email": "a@b.c"}', "size": 18, "truncated": False, "binary": False,
                "json": {"email": "a@b.c"}},
    "response": {"headers": {"content-type": "application/json"}, "body": '{"id": "cus_1", "email": "a@b.c"}',
                 "size": 33, "truncated": False, "binary": False, "json": {"id": "cus_1", "email": "a@b.c"}},
    "explanation": None, "route": "POST /customers", "edge": None, "replay_of": None}


def test_har_export_is_har_1_2() -> None:
    assert to_har([ENTRY], "http://127.0.0.1:4010", "0.1.0") == {"log": {
        "version": "1.2", "creator": {"name": "sandlot", "version": "0.1.0"}, "entries": [{
            "startedDateTime": "2027-01-15T08:00:00.000Z", "time": 1.5,
            "request": {"method": "POST", "url": "http://127.0.0.1:4010/v1/customers?expand=x",
                        "httpVersion": "HTTP/1.1", "cookies": [],
                        "headers": [{"name": "content-type", "value": "application/json"},
                                    {"name": "authorization", "value": "Bearer [redacted]"}],
                        "queryString": [{"name": "expand", "value": "x"}], "headersSize": -1, "bodySize": 18,
                        "postData": {"mimeType": "application/json", "text": '{"email": "a@b.c"}'}},
            "response": {"status": 201, "statusText": "", "httpVersion": "HTTP/1.1", "cookies": [],
                         "headers": [{"name": "content-type", "value": "application/json"}],
                         "content": {"size": 33, "mimeType": "application/json",
                                     "text": '{"id": "cus_1", "email": "a@b.c"}'},
                         "redirectURL": "", "headersSize": -1, "bodySize": 33},
            "cache": {}, "timings": {"send": 0, "wait": 1.5, "receive": 0},
            "comment": "sandlot journal #7, tenant ten_1, operation createCustomer"}]}}


def test_example_and_fixture_snippets() -> None:
    example = example_snippet(ENTRY, "ada")
    assert example["pointer"] == "/paths/~1customers/post/responses/201/content/application~1json/examples/ada"
    assert example["yaml"] == (
        "paths:\n  /customers:\n    post:\n      responses:\n        '201':\n          content:\n"
        "            application/json:\n              examples:\n                ada:\n"
        "                  summary: 'recorded by sandlot (journal #7)'\n                  value:\n"
        "                    id: cus_1\n                    email: a@b.c\n")
    assert fixture_snippet(ENTRY, "customers") == {"collection": "customers",
                                                    "yaml": "customers:\n- id: cus_1\n  email: a@b.c\n"}
    with pytest.raises(ValueError, match="example"):
        example_snippet({**ENTRY, "route": None})
    with pytest.raises(ValueError, match="fixture"):
        fixture_snippet(ENTRY, "customers", wrapper="customer")


def test_config_journal_settings_and_the_former_log_key() -> None:
    assert config_from_dict({"journal": {"size": 10, "maxAge": "2h", "bodyBytes": 100}}).journal == \
        JournalSettings(size=10, max_age=7200.0, body_bytes=100)
    assert config_from_dict({"log": {"size": 5}}).journal == JournalSettings(size=5)
    assert config_from_dict({}).journal == JournalSettings(size=1000, max_age=604800.0, body_bytes=4096)
    with pytest.raises(ConfigError, match="unknown key.*keep"):
        config_from_dict({"journal": {"keep": 1}})
    with pytest.raises(ConfigError, match="journal.size must be a whole number"):
        config_from_dict({"journal": {"size": 0}})


def test_the_command_line_table_and_detail() -> None:
    refused = {**ENTRY, "id": 8, "status": 422, "validation_errors": 1, "operation": "createCharge",
               "url": "/v1/charges", "scenario": "slow", "duration_ms": 12.25,
               "explanation": {"summary": "the request body does not match the operation's schema", "errors": [
                   {"location": "body", "pointer": "/amount", "message": "5 is less than the minimum of 50",
                    "rule": "minimum: 50 at #/properties/amount"}]}}
    assert table([refused, ENTRY]) == (
        "ID  TIME                      TENANT  METHOD  PATH                    STATUS  MS    OPERATION       SCENARIO  ERRORS\n"
        "8   2027-01-15T08:00:00.000Z  ten_1   POST    /v1/charges             422     12.2  createCharge    slow      1\n"
        "7   2027-01-15T08:00:00.000Z  ten_1   POST    /v1/customers?expand=x  201     1.5   createCustomer  -         0\n")
    assert detail(refused).splitlines()[0] == "#8 2027-01-15T08:00:00.000Z tenant ten_1 · createCharge · 12.25 ms · scenario slow"
    assert detail(refused).splitlines()[-2:] == [
        "Why: the request body does not match the operation's schema",
        "  body/amount: 5 is less than the minimum of 50 [minimum: 50 at #/properties/amount]"]

"""Response choice: status, Prefer/__ controls, Accept negotiation, examples vs generation, determinism."""

from __future__ import annotations

import base64

import pytest

from sandlot.mock.engine import ControlError, Engine, parse_controls
from sandlot.mock.messages import MockRequest, MockResponse
from sandlot.mock.negotiate import negotiate, parse_accept

from .conftest import FIXTURES

KEY = {"x-api-key": "k"}
POST_HEADERS = {"authorization": "Basic " + base64.b64encode(b"u:p").decode(), "content-type": "application/json"}
NEW_ITEM = b'{"name": "lamp", "kind": "thing"}'
LAMP = {"id": 1, "name": "lamp", "price": 9.5, "kind": "thing"}


def call(engine: Engine, method: str, path: str, query: str = "", headers: dict | None = None,
         body: bytes = b"") -> MockResponse:
    return engine.handle(MockRequest(method, path, query, headers or {}, body))


def conforms(engine: Engine, method: str, template: str, res: MockResponse, media: str = "application/json") -> None:
    """Assert a JSON response body validates against its documented schema."""
    op = engine.operation(method, template)
    schema = engine.response_schema(op, res.status, media)
    assert schema is not None
    errors = list(engine.index.validator(schema, "response").iter_errors(res.json()))
    assert not errors, [e.message for e in errors]


def test_parse_accept_orders_by_q_then_specificity() -> None:
    assert parse_accept("text/*;q=0.5, application/json, */*;q=0.1") == [
        ("application/json", 1.0), ("text/*", 0.5), ("*/*", 0.1)]
    assert negotiate(["application/json", "application/xml"], None) == "application/json"
    assert negotiate(["application/json", "application/xml"], "application/xml") == "application/xml"
    assert negotiate(["application/json", "application/xml"], "application/xml;q=0.4, application/json") == "application/json"
    assert negotiate(["application/xml", "application/json"], "*/*") == "application/json"
    assert negotiate(["application/json"], "text/html") is None
    assert negotiate(["application/json"], "application/json;q=0") is None


def test_parse_controls_header_and_query() -> None:
    assert parse_controls("code=404, example=chair, dynamic=true", {}) == parse_controls(
        None, {"__code": ["404"], "__example": ["chair"], "__dynamic": ["true"]})
    got = parse_controls("code=404", {"__code": ["500"]})
    assert got.code == 500 and got.example is None and got.dynamic is None
    # A Prefer value alone is parsed once and kept; a second reading gives the same controls,
    # and one that cannot be honoured is refused every time.
    assert parse_controls("dynamic=true", {}) is parse_controls("dynamic=true", {})
    assert parse_controls("dynamic=true", {}).dynamic is True and parse_controls("dynamic=false", {}).dynamic is False
    for _ in range(2):
        with pytest.raises(ControlError):
            parse_controls("code=abc", {})


def test_default_is_lowest_2xx_with_media_example_and_headers(shop_engine: Engine) -> None:
    res = call(shop_engine, "GET", "/items", headers=KEY)
    assert res.status == 200
    assert res.json() == [LAMP]
    assert res.header("content-type") == "application/json"
    assert 1 <= int(res.header("x-rate-limit")) <= 10


def test_first_named_example_then_prefer_example(shop_engine: Engine) -> None:
    res = call(shop_engine, "POST", "/items", headers=POST_HEADERS, body=NEW_ITEM)
    assert res.status == 201 and res.json() == LAMP
    chair = call(shop_engine, "POST", "/items", headers={**POST_HEADERS, "prefer": "example=chair"}, body=NEW_ITEM)
    assert chair.json()["name"] == "chair"
    same = call(shop_engine, "POST", "/items", "__example=chair", headers=POST_HEADERS, body=NEW_ITEM)
    assert same.json() == chair.json()
    missing = call(shop_engine, "POST", "/items", headers={**POST_HEADERS, "prefer": "example=sofa"}, body=NEW_ITEM)
    assert missing.status == 404
    assert missing.json()["detail"] == ("response 201 (application/json) has no example named 'sofa' "
                                        "(named examples: lamp, chair)")


def test_prefer_code_picks_documented_response(shop_engine: Engine) -> None:
    res = call(shop_engine, "POST", "/items", headers={**POST_HEADERS, "prefer": "code=404"}, body=NEW_ITEM)
    assert res.status == 404 and res.header("content-type") == "application/problem+json"
    conforms(shop_engine, "POST", "/items", res, "application/problem+json")
    # `default` covers any code on /items/{id}
    res = call(shop_engine, "GET", "/items/1", "__code=503")
    assert res.status == 503 and set(res.json()) == {"code", "message"}
    conforms(shop_engine, "GET", "/items/{id}", res)
    undocumented = call(shop_engine, "GET", "/items", headers={**KEY, "prefer": "code=418"})
    assert undocumented.status == 404
    assert undocumented.json()["detail"] == "status 418 is not documented for this operation (documented: 200, 400)"


def test_malformed_code_or_dynamic_control_is_a_400_naming_it_and_the_codes(shop_engine: Engine) -> None:
    """`code=abc` used to be ignored and answered 200: the client asked for an error and got success."""
    cases = [({"prefer": "code=abc"}, "", "header", "/prefer", "the Prefer header's code"),
             ({}, "__code=abc", "query", "/__code", "the __code query parameter"),
             ({"prefer": "code=2XX"}, "", "header", "/prefer", "the Prefer header's code"),
             ({}, "__code=999", "query", "/__code", "the __code query parameter"),
             ({"prefer": "dynamic=maybe"}, "", "header", "/prefer", "the Prefer header's dynamic")]
    for headers, query, location, pointer, named in cases:
        res = call(shop_engine, "GET", "/items", query, headers={**KEY, **headers})
        assert res.status == 400 and res.header("content-type") == "application/problem+json", (headers, query)
        problem = res.json()
        assert problem["detail"].startswith(named) and problem["detail"].endswith(
            "; the documented responses are: 200, 400")
        assert [(e["location"], e["pointer"]) for e in problem["errors"]] == [(location, pointer)]
    assert call(shop_engine, "GET", "/items", "__code=400", headers=KEY).status == 400  # well-formed still works
    assert call(shop_engine, "GET", "/items", headers={**KEY, "prefer": "return=minimal"}).status == 200


def test_accept_negotiation_and_406(shop_engine: Engine) -> None:
    xml = call(shop_engine, "POST", "/items", headers={**POST_HEADERS, "accept": "application/xml"}, body=NEW_ITEM)
    assert xml.status == 201 and xml.header("content-type") == "application/xml"
    assert xml.body.startswith(b"<response>")
    refused = call(shop_engine, "POST", "/items", headers={**POST_HEADERS, "accept": "text/html"}, body=NEW_ITEM)
    assert refused.status == 406 and refused.header("content-type") == "application/problem+json"
    text = call(shop_engine, "GET", "/items/special", headers={"accept": "text/*"})
    assert (text.status, text.body, text.header("content-type")) == (200, b"special", "text/plain")


def test_generated_bodies_validate_and_are_deterministic(shop_engine: Engine) -> None:
    first = call(shop_engine, "GET", "/items/7")
    assert first.status == 200
    conforms(shop_engine, "GET", "/items/{id}", first)
    again = Engine.from_source(str(FIXTURES / "shop.yaml"))
    assert call(again, "GET", "/items/7").body == first.body
    reseeded = Engine.from_source(str(FIXTURES / "shop.yaml"), seed=99)
    bodies = {call(reseeded, "GET", f"/items/{i}").body for i in range(5)}
    assert bodies != {call(again, "GET", f"/items/{i}").body for i in range(5)}
    assert "secret" not in first.json()  # writeOnly: never in a response


def test_dynamic_ignores_examples(shop_engine: Engine) -> None:
    res = call(shop_engine, "GET", "/items", "__dynamic=true", headers=KEY)
    assert res.status == 200 and res.json() != [LAMP]
    conforms(shop_engine, "GET", "/items", res)


def test_recursive_schema_generates_a_finite_valid_tree(shop_engine: Engine) -> None:
    res = call(shop_engine, "GET", "/nodes", "__dynamic=true")
    conforms(shop_engine, "GET", "/nodes", res)


def test_head_uses_get_without_body_and_delete_has_no_content(shop_engine: Engine) -> None:
    head = call(shop_engine, "HEAD", "/items/1")
    assert head.status == 200 and head.body == b"" and head.header("content-type") == "application/json"
    got = call(shop_engine, "GET", "/items/1")
    assert head.headers == [*got.headers, ("content-length", str(len(got.body)))] and len(got.body) > 0
    gone = call(shop_engine, "DELETE", "/items/1", headers=KEY)
    assert (gone.status, gone.body, gone.headers) == (204, b"", [])


def test_respond_api_renders_caller_body_with_negotiation(shop_engine: Engine) -> None:
    req = MockRequest("GET", "/items/5", "", {"accept": "application/json"})
    match = shop_engine.match(req)
    res = shop_engine.respond(req, match, body={"id": 5, "name": "stored", "kind": "thing"})
    assert res.status == 200 and res.json() == {"id": 5, "name": "stored", "kind": "thing"}
    assert shop_engine.response_schema(match.operation) == {"$ref": "#/components/schemas/Item"}
    ops = {(o.method, o.path, o.operation_id) for o in shop_engine.operations}
    assert ("DELETE", "/items/{id}", "deleteItem") in ops and len(ops) == 8


def test_multi_file_spec_serves_recursive_refs() -> None:
    engine = Engine.from_source(str(FIXTURES / "multi" / "root.yaml"))
    res = call(engine, "GET", "/pets/3")
    assert res.status == 200
    assert res.json()["name"] == "Rex"  # the property example from another file
    conforms(engine, "GET", "/pets/{id}", res)
    bad = call(engine, "POST", "/pets", headers={"content-type": "application/json"}, body=b'{"owner": {"pets": [{}]}}')
    assert bad.status == 422
    assert [e["pointer"] for e in bad.json()["errors"]] == ["", "/owner/pets/0"]


def test_answer_cache_is_bounded(shop_engine: Engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sandlot.mock.engine as engine_module

    monkeypatch.setattr(engine_module, "_CACHE_SIZE", 4)
    first = call(shop_engine, "GET", "/items/1")
    assert not shop_engine._cache  # kept from the second time a request comes
    for i in range(1, 8):
        call(shop_engine, "GET", f"/items/{i}")
        call(shop_engine, "GET", f"/items/{i}")
    kept = {**shop_engine._older, **shop_engine._cache}
    assert len(shop_engine._cache) + len(shop_engine._older) == len(kept) <= 4
    assert [k[1] for k in kept] == ["/items/5", "/items/6", "/items/7"]  # the most recent, oldest first
    assert shop_engine._cache_bytes == sum(len(r.body) for r in shop_engine._cache.values())
    assert shop_engine._older_bytes == sum(len(r.body) for r in shop_engine._older.values())
    assert call(shop_engine, "GET", "/items/1").body == first.body  # recomputed, identical
    # An answer used again comes back to the newer generation, so it outlives unused ones.
    again = call(shop_engine, "GET", "/items/1")
    assert again is shop_engine._cache[next(k for k in shop_engine._cache if k[1] == "/items/1")]
    for _ in range(2):
        call(shop_engine, "GET", "/items/8")  # kept the second time: a new generation, 7 and 1 the older
    call(shop_engine, "GET", "/items/1")  # found in the older generation: moved back
    for _ in range(2):
        call(shop_engine, "GET", "/items/9")  # another generation: 7, never used again, is dropped
    assert sorted(k[1] for k in {**shop_engine._older, **shop_engine._cache}) == ["/items/1", "/items/8", "/items/9"]
    assert shop_engine._older_bytes == sum(len(r.body) for r in shop_engine._older.values())


def test_answer_cache_is_bounded_in_bytes(shop_engine: Engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sandlot.mock.engine as engine_module

    body = len(call(shop_engine, "GET", "/items/1").body)
    monkeypatch.setattr(engine_module, "_CACHE_MAX_BYTES", body * 4 + 1)
    for i in range(2, 20):
        call(shop_engine, "GET", f"/items/{i}")
        call(shop_engine, "GET", f"/items/{i}")
    assert shop_engine._cache_bytes + shop_engine._older_bytes <= body * 4 + 1
    assert len(shop_engine._cache) + len(shop_engine._older) >= 2


def test_engine_wide_dynamic_default_and_per_request_override() -> None:
    engine = Engine.from_source(str(FIXTURES / "shop.yaml"), dynamic=True)
    generated = call(engine, "GET", "/items", headers=KEY)
    assert generated.status == 200 and generated.json() != [LAMP]
    conforms(engine, "GET", "/items", generated)
    assert call(engine, "GET", "/items", "__dynamic=false", headers=KEY).json() == [LAMP]


def test_request_header_names_are_lower_cased_and_repeats_joined() -> None:
    assert MockRequest("get", "/", "", {"Accept": "a", "x-b": "b"}).headers == {"accept": "a", "x-b": "b"}
    assert MockRequest("GET", "/", "", {"x-ΣΑ": "s"}).headers == {"x-σα": "s"}
    assert MockRequest("GET", "/", "", [("X-A", "1"), ("x-a", "2")]).headers == {"x-a": "1, 2"}  # type: ignore[arg-type]
    lower = {"accept": "a", "x-1": "b"}
    assert MockRequest("GET", "/", "", lower).headers is lower  # nothing to do: kept as given
    assert MockRequest("get", "/").method == "GET"

"""Request validation: exact problem bodies, status per kind of violation, documented error shapes."""

from __future__ import annotations

import base64
import json

from sandlot.mock.engine import Engine
from sandlot.mock.messages import MockRequest, MockResponse

KEY = {"x-api-key": "k"}
BASIC = {"authorization": "Basic " + base64.b64encode(b"user:pw").decode()}
JSON = {"content-type": "application/json"}


def call(engine: Engine, method: str, path: str, query: str = "", headers: dict | None = None,
         body: bytes = b"") -> MockResponse:
    return engine.handle(MockRequest(method, path, query, headers or {}, body))


def test_missing_credentials_is_401_problem_with_challenge(shop_engine: Engine) -> None:
    res = call(shop_engine, "GET", "/items")
    assert res.status == 401
    assert res.header("content-type") == "application/problem+json"
    assert res.header("www-authenticate") == 'Bearer realm="sandlot"'
    assert res.json() == {
        "type": "about:blank", "title": "Unauthorized", "status": 401,
        "detail": "missing credentials: this operation needs apiKey or bearer",
        "errors": [
            {"location": "header", "pointer": "/X-Api-Key", "message": "security scheme 'apiKey' needs the header 'X-Api-Key'"},
            {"location": "header", "pointer": "/Authorization",
             "message": "security scheme 'bearer' needs an `Authorization: Bearer ...` header"},
        ],
    }


def test_any_alternative_satisfies_security(shop_engine: Engine) -> None:
    assert call(shop_engine, "GET", "/items", headers=KEY).status == 200
    assert call(shop_engine, "GET", "/items", headers={"authorization": "Bearer t"}).status == 200
    assert call(shop_engine, "GET", "/items", headers={"authorization": "Basic dTpw"}).status == 401
    # operation-level `security: []` opens the operation
    assert call(shop_engine, "GET", "/items/3").status == 200
    # basic needs user:password in base64
    assert call(shop_engine, "POST", "/items", headers={"authorization": "Basic !!"}).status == 401


def test_parameter_violations_are_all_listed_and_documented_400_shape_wins(shop_engine: Engine) -> None:
    res = call(shop_engine, "GET", "/items", "limit=0&ids=1|x", {**KEY, "x-trace": "abc", "cookie": "session=a"})
    assert res.status == 400
    # /items documents 400 with the Error schema: the body has that shape ...
    body = res.json()
    assert set(body) == {"code", "message"}
    # ... and the problem document travels in a header
    problem = json.loads(res.header("x-sandlot-errors"))
    assert problem["status"] == 400
    assert problem["errors"] == [
        {"location": "query", "pointer": "/limit", "message": "0 is less than the minimum of 1"},
        {"location": "query", "pointer": "/ids/1", "message": "'x' is not of type 'integer'"},
        {"location": "header", "pointer": "/X-Trace", "message": "'abc' is not of type 'integer'"},
        {"location": "cookie", "pointer": "/session", "message": "'a' is too short"},
    ]


def test_undocumented_error_status_gets_problem_json(shop_engine: Engine) -> None:
    res = call(shop_engine, "POST", "/items", headers={**BASIC, **JSON}, body=b'{"name": "", "kind": "other"}')
    assert res.status == 422
    assert res.header("content-type") == "application/problem+json"
    assert res.json() == {
        "type": "about:blank", "title": "Unprocessable Content", "status": 422,
        "detail": "the request body does not match the operation's schema",
        "errors": [
            {"location": "body", "pointer": "/name", "message": "'' should be non-empty"},
            {"location": "body", "pointer": "/kind", "message": "'other' is not one of ['thing', 'service']"},
        ],
    }


def test_read_only_required_property_need_not_be_sent(shop_engine: Engine) -> None:
    res = call(shop_engine, "POST", "/items", headers={**BASIC, **JSON},
               body=b'{"name": "lamp", "kind": "thing", "price": null, "secret": "s"}')
    assert res.status == 201, res.body


def test_malformed_json_is_400_and_missing_body_is_422(shop_engine: Engine) -> None:
    res = call(shop_engine, "POST", "/items", headers={**BASIC, **JSON}, body=b"{nope")
    assert res.status == 400
    [error] = res.json()["errors"]
    assert error["location"] == "body" and error["pointer"] == ""
    assert error["message"].startswith("malformed body: not valid JSON")
    res = call(shop_engine, "POST", "/items", headers={**BASIC, **JSON})
    assert res.status == 422
    assert res.json()["errors"] == [{"location": "body", "pointer": "", "message": "the request body is required"}]


def test_unsupported_content_type_is_415(shop_engine: Engine) -> None:
    res = call(shop_engine, "POST", "/items", headers={**BASIC, "content-type": "text/csv"}, body=b"a,b")
    assert res.status == 415
    assert res.json()["detail"] == ("Content-Type 'text/csv' is not accepted here; send one of: "
                                    "application/json, application/x-www-form-urlencoded")


def test_form_bodies_are_coerced_by_schema(shop_engine: Engine) -> None:
    form = {**BASIC, "content-type": "application/x-www-form-urlencoded"}
    assert call(shop_engine, "POST", "/items", headers=form, body=b"name=lamp&kind=thing&price=2.5").status == 201
    res = call(shop_engine, "POST", "/items", headers=form, body=b"name=lamp&kind=thing&price=cheap")
    assert res.status == 422
    assert res.json()["errors"] == [
        {"location": "body", "pointer": "/price", "message": "'cheap' is not of type 'number'"}
    ]


def test_path_parameter_format_and_404_405(shop_engine: Engine) -> None:
    res = call(shop_engine, "GET", "/items/99999999999")
    assert res.status == 400  # int32 overflow; `default` documents the Error shape
    assert json.loads(res.header("x-sandlot-errors"))["errors"][0]["pointer"] == "/id"
    res = call(shop_engine, "PATCH", "/items/1")
    assert res.status == 405 and res.header("allow") == "GET, DELETE"
    assert res.json()["title"] == "Method Not Allowed"
    res = call(shop_engine, "GET", "/nowhere")
    assert res.status == 404 and res.json()["detail"] == "no documented path matches /nowhere"


def test_reserved_prefix_is_not_routed(shop_engine: Engine) -> None:
    res = call(shop_engine, "GET", "/__sandlot/anything")
    assert res.status == 404 and "reserved" in res.json()["detail"]


def test_form_null_for_a_nullable_array(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "form.yaml"
    spec.write_text("""
openapi: 3.0.3
info: {title: form, version: "1"}
paths:
  /f:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [tags]
              properties:
                tags: {type: array, nullable: true, items: {type: string, enum: [a, b]}}
      responses:
        "204": {description: ok}
""")
    engine = Engine.from_source(str(spec))
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert call(engine, "POST", "/f", headers=form, body=b"tags=null").status == 204
    assert call(engine, "POST", "/f", headers=form, body=b"tags=a&tags=b").status == 204
    assert call(engine, "POST", "/f", headers=form, body=b"").status == 204  # an empty array sends nothing
    res = call(engine, "POST", "/f", headers=form, body=b"tags=c")
    assert res.status == 422 and res.json()["errors"][0]["pointer"] == "/tags/0"


def test_served_spec_drops_header_params_openapi_ignores(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "h.yaml"
    spec.write_text("""
openapi: 3.0.3
info: {title: h, version: "1"}
paths:
  /h:
    parameters:
      - {name: Accept, in: header, schema: {type: string, enum: [application/json, application/yaml]}}
    get:
      parameters:
        - {name: Content-Type, in: header, schema: {type: string}}
        - {name: X-Keep, in: header, schema: {type: string}}
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: object}}}}
""")
    engine = Engine.from_source(str(spec))
    served = json.loads(engine.bundled_json())
    assert served["paths"]["/h"]["parameters"] == []
    assert [p["name"] for p in served["paths"]["/h"]["get"]["parameters"]] == ["X-Keep"]
    # a client following the declared Accept parameter still gets an answer, not 406
    res = call(engine, "GET", "/h", headers={"accept": "application/yaml"})
    assert res.status == 200 and res.header("content-type") == "application/json"


def test_multipart_fields_are_validated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "upload.yaml"
    spec.write_text("""
openapi: 3.1.0
info: {title: upload, version: "1"}
paths:
  /upload:
    post:
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema:
              type: object
              required: [file, count]
              properties:
                file: {type: string, contentMediaType: application/octet-stream}
                count: {type: integer, maximum: 3}
      responses:
        "204": {description: stored}
""")
    engine = Engine.from_source(str(spec))

    def upload(count: str) -> MockResponse:
        body = (b"--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
                b"Content-Type: text/plain\r\n\r\nhello\r\n"
                b"--XYZ\r\nContent-Disposition: form-data; name=\"count\"\r\n\r\n" + count.encode() +
                b"\r\n--XYZ--\r\n")
        return call(engine, "POST", "/upload", headers={"content-type": "multipart/form-data; boundary=XYZ"}, body=body)

    assert upload("2").status == 204
    res = upload("9")
    assert res.status == 422
    assert res.json()["errors"] == [{"location": "body", "pointer": "/count", "message": "9 is greater than the maximum of 3"}]


def test_errors_header_stays_valid_json_when_long() -> None:
    from sandlot.mock.engine import errors_header
    from sandlot.mock.messages import Violation, problem_body

    many = [Violation("query", f"/p{i}", "x" * 100) for i in range(100)]
    text = errors_header(problem_body(400, "bad", many))
    parsed = json.loads(text)
    assert len(text) <= 2000 and parsed["truncated"] is True
    assert 0 < len(parsed["errors"]) < 100 and parsed["errors"][0]["pointer"] == "/p0"


def _time_spec(tmp_path, openapi: str):  # type: ignore[no-untyped-def]
    spec = {"openapi": openapi, "info": {"title": "t", "version": "1"},
            "paths": {"/at": {"get": {"parameters": [
                {"name": "t", "in": "query", "schema": {"type": "string", "format": "time"}},
                {"name": "n", "in": "query", "schema": {"type": "integer", "format": "int32"}},
                {"name": "u", "in": "query", "schema": {"type": "string", "format": "uri"}}],
                "responses": {"204": {"description": "ok"}}}}}}
    path = tmp_path / "times.json"
    path.write_text(json.dumps(spec))
    return Engine.from_source(str(path))


def test_time_format_is_rfc_3339_with_offset(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for openapi in ("3.0.3", "3.1.0"):
        engine = _time_spec(tmp_path, openapi)
        assert engine.handle(MockRequest("GET", "/at", "t=14:55:33Z")).status == 204
        assert engine.handle(MockRequest("GET", "/at", "t=14:55:33.5%2B02:00")).status == 204
        refused = engine.handle(MockRequest("GET", "/at", "t=14:55:33"))  # no offset: not RFC 3339
        assert refused.status == 400 and "'14:55:33' is not a 'time'" in refused.body.decode()
        # the OpenAPI additions are still asserted on top of the 2020-12 formats
        assert engine.handle(MockRequest("GET", "/at", "n=2147483648")).status == 400
        assert engine.handle(MockRequest("GET", "/at", "u=not%20a%20uri")).status == 400
        assert engine.handle(MockRequest("GET", "/at", "n=5&u=https://x.test/a")).status == 204


def test_text_path_parameters_alone_are_checked_without_the_full_pass(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An operation with only plain string path parameters (petstore's showPetById) is valid when
    routed, with the values as the full check keeps them; any other shape still gets the full check."""
    spec = tmp_path / "p.yaml"
    spec.write_text("""
openapi: 3.0.3
info: {title: p, version: "1"}
paths:
  /a/{x}/b/{y}:
    get:
      parameters:
        - {name: x, in: path, required: true, schema: {type: string}}
        - {name: y, in: path, required: true, schema: {type: string}}
      responses: {"204": {description: ok}}
  /n/{x}:
    get:
      parameters: [{name: x, in: path, required: true, schema: {type: integer}}]
      responses: {"204": {description: ok}, "400": {description: bad}}
  /q/{x}:
    get:
      parameters:
        - {name: x, in: path, required: true, schema: {type: string}}
        - {name: q, in: query, required: true, schema: {type: string}}
      responses: {"204": {description: ok}, "400": {description: bad}}
  /s/{x}:
    get:
      parameters: [{name: x, in: path, required: true, schema: {type: string, maxLength: 2}}]
      responses: {"204": {description: ok}, "400": {description: bad}}
""")
    engine = Engine.from_source(str(spec))

    def checked(path: str, query: str = ""):  # type: ignore[no-untyped-def]
        req = MockRequest("GET", path, query, {}, b"")
        match = engine.match(req)
        assert not isinstance(match, MockResponse)
        plan = engine.plan(match.operation).request
        fast = plan.check(req, match.path_params)
        found, plan._only_text_path = plan._only_text_path, ()  # the full pass, for comparison
        full = plan.check(req, match.path_params)
        plan._only_text_path = found
        assert fast == full
        return fast

    assert checked("/a/h%20i/b/%2F").path == {"x": "h i", "y": "/"}
    assert engine.plan(engine.match(MockRequest("GET", "/a/1/b/2", "", {}, b"")).operation).request._only_text_path
    assert checked("/n/7").path == {"x": 7}  # an integer is coerced: not the text fast path
    assert checked("/n/seven").status == 400
    assert checked("/q/1").status == 400  # the required query parameter is still checked
    assert checked("/q/1", "q=z").query == {"q": "z"}
    assert checked("/s/abc").status == 400  # maxLength is more than `type: string`
    for path in ("/n/7", "/q/1", "/s/ab"):
        assert engine.plan(engine.match(MockRequest("GET", path, "", {}, b"")).operation).request._only_text_path == ()


def test_a_bounded_query_parameter_out_of_bounds_is_still_refused_with_the_validators_words(
        shop_engine: Engine) -> None:
    assert call(shop_engine, "GET", "/items", "limit=5", KEY).status == 200
    problem = json.loads(call(shop_engine, "GET", "/items", "limit=0", KEY).header("x-sandlot-errors"))
    assert problem["errors"] == [{"location": "query", "pointer": "/limit",
                                  "message": "0 is less than the minimum of 1"}]


def _check(engine: Engine, query: str, headers: dict) -> object:
    req = MockRequest("GET", "/items", query, headers, b"")
    return engine.validate(req, engine.match(req))


def test_a_repeated_body_less_request_is_checked_once_and_each_gets_its_own_copy(shop_engine: Engine) -> None:
    """RequestPlan keeps what a body-less request checked to (a stateful client's repeated read
    skips the check); each caller gets dicts of its own, and a refusal is never kept."""
    from sandlot.mock import validate

    headers = {**KEY, "x-trace": "7"}
    first = _check(shop_engine, "limit=5&tags=a,b", headers)
    assert (first.query, first.headers) == ({"limit": 5, "tags": ["a", "b"]}, {"X-Trace": 7})
    first.query["limit"] = 999  # a caller changing its copy changes nobody else's
    checks = []
    real = validate.RequestPlan._check
    validate.RequestPlan._check = lambda self, *a: checks.append(a) or real(self, *a)  # type: ignore[method-assign]
    try:
        again = _check(shop_engine, "limit=5&tags=a,b", headers)
        assert (again.query, again.headers, checks) == ({"limit": 5, "tags": ["a", "b"]}, {"X-Trace": 7}, [])
        assert again.query is not first.query
        # Anything else in the request is checked anew: a header, the query.
        assert _check(shop_engine, "limit=5&tags=a,b", {**KEY, "x-trace": "abc"}).status == 400
        assert _check(shop_engine, "limit=0&tags=a,b", headers).status == 400
        assert _check(shop_engine, "limit=0&tags=a,b", headers).status == 400  # refusals are not kept
        assert len(checks) == 3
    finally:
        validate.RequestPlan._check = real  # type: ignore[method-assign]


def test_what_is_kept_of_checked_requests_is_bounded(shop_engine: Engine, monkeypatch) -> None:
    from sandlot.mock import validate

    monkeypatch.setattr(validate, "CHECKED_KEPT", 8)
    for n in range(1, 30):
        _check(shop_engine, f"limit={n}", KEY)
        assert len(shop_engine._checked) <= 8
    shop_engine._checked.clear()
    _check(shop_engine, "limit=1", {**KEY, "x-padding": "p" * validate.CHECKED_BYTES})
    assert shop_engine._checked == {}  # long headers are checked each time, not kept

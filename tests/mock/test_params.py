"""Parameter deserialisation (style/explode) and coercion, through the engine's validation."""

from __future__ import annotations

from sandlot.mock.engine import Engine, Match
from sandlot.mock.messages import MockRequest, MockResponse
from sandlot.mock.params import ParamSpec, coerce_scalar, deserialize_query, deserialize_text
from sandlot.mock.validate import ValidatedRequest, parse_query

AUTH = {"x-api-key": "k"}


def _validated(engine: Engine, method: str, path: str, query: str = "", headers: dict | None = None) -> ValidatedRequest:
    req = MockRequest(method, path, query, {**AUTH, **(headers or {})})
    match = engine.match(req)
    assert isinstance(match, Match)
    out = engine.validate(req, match)
    assert not isinstance(out, MockResponse), out.body
    return out


def _spec(style: str, explode: bool, kind: str, location: str = "path", name: str = "p") -> ParamSpec:
    return ParamSpec(name=name, location=location, required=True, style=style, explode=explode, schema={}, kind=kind)


def test_path_styles_simple_label_matrix() -> None:
    assert deserialize_text(_spec("simple", False, "array"), "3,4,5") == ["3", "4", "5"]
    assert deserialize_text(_spec("simple", False, "object"), "role,admin,name,al") == {"role": "admin", "name": "al"}
    assert deserialize_text(_spec("simple", True, "object"), "role=admin,name=al") == {"role": "admin", "name": "al"}
    assert deserialize_text(_spec("label", False, "array"), ".3,4,5") == ["3", "4", "5"]
    assert deserialize_text(_spec("label", True, "array"), ".3.4.5") == ["3", "4", "5"]
    assert deserialize_text(_spec("matrix", False, "scalar"), ";p=5") == "5"
    assert deserialize_text(_spec("matrix", False, "array"), ";p=3,4,5") == ["3", "4", "5"]
    assert deserialize_text(_spec("matrix", True, "array"), ";p=3;p=4") == ["3", "4"]
    assert deserialize_text(_spec("matrix", True, "object"), ";role=admin;name=al") == {"role": "admin", "name": "al"}


def test_query_styles_form_space_pipe_deep() -> None:
    query = parse_query("a=1&a=2&b=x,y&c=x%20y&d=x|y&f[color]=red&f[size]=3&free=1")
    assert deserialize_query(_spec("form", True, "array", "query", "a"), query, set()) == ["1", "2"]
    assert deserialize_query(_spec("form", False, "array", "query", "b"), query, set()) == ["x", "y"]
    assert deserialize_query(_spec("spaceDelimited", False, "array", "query", "c"), query, set()) == ["x", "y"]
    assert deserialize_query(_spec("pipeDelimited", False, "array", "query", "d"), query, set()) == ["x", "y"]
    assert deserialize_query(_spec("deepObject", True, "object", "query", "f"), query, set()) == {"color": "red", "size": "3"}
    exploded = deserialize_query(_spec("form", True, "object", "query", "o"), query, {"a", "b", "c", "d"})
    assert exploded == {"f[color]": "red", "f[size]": "3", "free": "1"}


def test_coercion_by_type() -> None:
    assert coerce_scalar({"integer"}, "42") == 42
    assert coerce_scalar({"number"}, "2.5") == 2.5
    assert coerce_scalar({"boolean"}, "true") is True
    assert coerce_scalar({"integer"}, "4x") == "4x"  # left for validation to report
    assert coerce_scalar({"string"}, "42") == "42"


def test_engine_types_every_location(shop_engine: Engine) -> None:
    out = _validated(shop_engine, "GET", "/items", "limit=5&tags=a,b&ids=1|2&filter[color]=red&filter[size]=2",
                     {"x-trace": "7", "cookie": "session=abcd; other=1"})
    assert out.query == {"limit": 5, "tags": ["a", "b"], "ids": [1, 2], "filter": {"color": "red", "size": 2}}
    assert out.headers == {"X-Trace": 7}
    assert out.cookies == {"session": "abcd"}
    assert out.credentials == {"apiKey": "k"}


def test_engine_matrix_and_label_path_params(shop_engine: Engine) -> None:
    out = _validated(shop_engine, "GET", "/matrix/;x=1;y=2/.1.5,2")
    assert out.path == {"point": {"x": 1, "y": 2}, "coords": [1.5, 2]}

"""The compiled executor (graphql/compiled.py) answers exactly what graphql-core's executor answers
with the engine's resolvers: hand-written queries on the shop schema (fragments, inline fragments on
interfaces and unions, aliases, merged selections, __typename, variables and their defaults,
connections), property-based queries from hypothesis-graphql on the shop schema and on GitHub's
public schema, and the cases it leaves to graphql-core (directives, introspection, variables that
do not coerce, magic values, examples) still answered as before."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLScalarType, is_specified_scalar_type
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes, queries

from sandlot.graphql.engine import GraphQLEngine, GraphQLRequest, Obj, Run
from tests.graphql import published

SHOP = Path(__file__).parent / "fixtures" / "shop.graphql"

QUERIES = [
    ("{ viewer { id name email createdAt orderCount avatarUrl tier nickname motto tags } }", None),
    ("query C($id: ID!) { customer(id: $id) { id name orders(first: 3) { totalCount edges { cursor node { id "
     "total status customer { name } } } pageInfo { hasNextPage endCursor } } } }", {"id": "c-7"}),
    ("query S($t: String! = \"x\") { search(text: $t) { __typename ... on Customer { name tier } "
     "... on Order { total currency } } }", {}),
    ("query S($t: String!) { search(text: $t) { ...C ...O } } fragment C on Customer { id name } "
     "fragment O on Order { id ...More } fragment More on Order { status createdAt }", {"t": "shoes"}),
    ("{ a: node(id: \"1\") { __typename id ... on Customer { email } } b: node(id: \"2\") { id } "
     "customers(first: 4, tier: PRO) { id tier } }", None),
    ("{ viewer { orders { nodes { id } } orders { totalCount nodes { total } } } __typename }", None),
    ("query Q($n: Int, $s: OrderStatus = PAID) { orders(first: $n, status: $s) { nodes { id status } "
     "pageInfo { startCursor hasPreviousPage } } }", {"n": 7}),
    ("query Q($after: String) { orders(first: 2, after: $after) { edges { cursor } } }", {"after": "YXJyYXk6Mw=="}),
    ("{ ... on Query { viewer { ... { name } id } } order(id: \"o1\") { customer { ... on Node { id } } } }", None),
]


def _graphql_core(engine: GraphQLEngine, request: GraphQLRequest) -> dict[str, Any]:
    """The answer graphql-core's executor gives with the engine's resolvers."""
    document, errors = engine.document(request.query)
    assert document is not None and not errors, errors
    return dict(engine._run(document, request, Obj("Query"), Run()).formatted)


def _compiled(engine: GraphQLEngine, request: GraphQLRequest) -> dict[str, Any]:
    """The answer of the compiled executor; fails when the request was not compiled."""
    document, _ = engine.document(request.query)
    assert document is not None
    from graphql import get_operation_ast

    compiled = engine._compile(request, document, get_operation_ast(document, request.operation_name))
    assert compiled is not None, f"not compiled: {request.query}"
    return {"data": compiled.execute(Obj("Query"), request.variables)}


@pytest.fixture(scope="module")
def shop() -> GraphQLEngine:
    return GraphQLEngine.from_source(str(SHOP))


@pytest.mark.parametrize(("query", "variables"), QUERIES)
def test_compiled_answers_as_graphql_core_does(shop: GraphQLEngine, query: str, variables: Any) -> None:
    request = GraphQLRequest(query, variables)
    expected = _graphql_core(shop, request)
    assert "errors" not in expected
    got = _compiled(shop, request)
    assert json.dumps(got) == json.dumps(expected)  # the same values in the same order
    assert shop.execute(request).body() == json.dumps(expected, separators=(",", ":")).encode()


def test_new_variables_get_new_values_and_the_same_ones_the_same(shop: GraphQLEngine) -> None:
    query = "query C($id: ID!) { customer(id: $id) { id name email orderCount } }"
    first = shop._execute(GraphQLRequest(query, {"id": "1"}), Run()).result
    again = GraphQLEngine.from_source(str(SHOP))._execute(GraphQLRequest(query, {"id": "1"}), Run()).result
    other = shop._execute(GraphQLRequest(query, {"id": "2"}), Run()).result
    assert first == again and first != other
    assert first["data"]["customer"]["id"] == "1" and first["data"]["customer"]["orderCount"] >= 0


@pytest.mark.parametrize(("query", "variables", "why"), [
    ("query Q($skip: Boolean!) { viewer { name email @skip(if: $skip) } }", {"skip": True}, "a directive"),
    ("{ __schema { queryType { name } } viewer { name } }", None, "introspection"),
    ("{ __type(name: \"Tier\") { enumValues { name } } }", None, "introspection"),
    ("mutation { deleteCustomer(id: \"1\") }", None, "a mutation"),
])
def test_what_is_not_compiled_is_answered_by_graphql_core(shop: GraphQLEngine, query: str, variables: Any,
                                                         why: str) -> None:
    request = GraphQLRequest(query, variables)
    result = shop.execute(request).result
    assert "errors" not in result and result["data"], why
    assert shop._compiled.get((query, None)) is None, why
    if "skip" in query:
        assert result["data"]["viewer"].keys() == {"name"}


def test_variables_that_do_not_coerce_are_the_request_error_graphql_core_reports(shop: GraphQLEngine) -> None:
    query = "query C($id: ID!) { customer(id: $id) { id } }"
    outcome = shop.execute(GraphQLRequest(query, {"id": {"not": "an id"}}))
    assert outcome.stage == "request" and "data" not in outcome.result
    assert "$id" in outcome.result["errors"][0]["message"]
    missing = shop.execute(GraphQLRequest(query, {}))
    assert missing.stage == "request" and "to be provided" in missing.result["errors"][0]["message"]


def test_magic_values_and_examples_still_apply(tmp_path: Path) -> None:
    schema = tmp_path / "s.graphql"
    schema.write_text('type Query { user(login: String! @magic(value: "boom", error: "No.", code: "NOPE")): User '
                      "users: [User!]! } type User { login: String! name: String! }")
    engine = GraphQLEngine.from_source(str(schema))
    failed = engine.execute(GraphQLRequest('{ user(login: "boom") { name } }')).result
    assert failed["errors"][0]["extensions"]["code"] == "NOPE" and failed["data"] == {"user": None}
    fine = engine.execute(GraphQLRequest('{ users { name } }')).result
    assert "errors" not in fine and engine._compiled[('{ users { name } }', None)] is not None
    examples = GraphQLEngine.from_source(str(schema), examples={"Who": {"users": [{"login": "ada", "name": "Ada"}]}})
    answered = examples.execute(GraphQLRequest("query Who { users { login name } }")).result
    assert answered == {"data": {"users": [{"login": "ada", "name": "Ada"}]}}


def _scalars(schema: Any) -> dict[str, Any]:
    text = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=12)
    return {name: text.map(nodes.String) for name, type_ in schema.type_map.items()
            if isinstance(type_, GraphQLScalarType) and not is_specified_scalar_type(type_)}


def _same_as_graphql_core(engine: GraphQLEngine, examples: int) -> None:
    compiled = {"count": 0}

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    @given(queries(engine.schema, custom_scalars=_scalars(engine.schema), allow_x00=False))
    def check(query: str) -> None:
        request = GraphQLRequest(query)
        expected = _graphql_core(engine, request)
        got = engine._execute(request, Run()).result
        assert json.dumps(got) == json.dumps(expected), query
        compiled["count"] += engine._compiled.get((query, None)) is not None

    check()
    assert compiled["count"] >= examples // 2  # most generated queries took the compiled path


def test_generated_queries_on_the_shop_schema_match_graphql_core(shop: GraphQLEngine) -> None:
    _same_as_graphql_core(shop, 60)


def test_generated_queries_on_githubs_schema_match_graphql_core() -> None:
    try:
        path = published.fetch(published.GITHUB_JSON)
    except published.Unavailable as exc:
        pytest.skip(f"{published.GITHUB_JSON.name} schema unavailable: {exc}")
    _same_as_graphql_core(GraphQLEngine.from_source(str(path)), 25)


def test_a_failing_resolver_is_the_field_error_graphql_core_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = GraphQLEngine.from_source(str(SHOP))
    real = engine.values.scalar

    def failing(scalar: Any, name: str, key: str, hints: Any = None) -> Any:
        if name == "email":
            raise RuntimeError("the value source broke")
        return real(scalar, name, key, hints)

    monkeypatch.setattr(engine.values, "scalar", failing)
    result = engine.execute(GraphQLRequest('{ customer(id: "1") { id email } viewer { name } }')).result
    assert result["errors"][0]["path"] == ["customer", "email"]
    assert "the value source broke" in result["errors"][0]["message"]
    assert result["data"]["customer"] is None and result["data"]["viewer"]["name"]  # the rest is answered

"""Conformance on real public schemas (fetched from npm, cached; skipped with the reason when they
cannot be): property-based queries and mutations from hypothesis-graphql sent over HTTP to the
stub; every answer must be a 200 with no errors and data valid for the query (tests/graphql/
conformance.py, an independent judge). 0 server errors, 0 invalid responses."""

from __future__ import annotations

import json
import string

import httpx
import pytest
from graphql import GraphQLScalarType, is_specified_scalar_type, parse
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, nodes, queries

from sandlot.graphql.schema import load_schema
from tests.graphql import conformance, published
from tests.graphql.servers import serve

QUERIES, MUTATIONS = 20, 6


def _scalars(schema) -> dict:
    text = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=12)
    return {name: text.map(nodes.String) for name, type_ in schema.type_map.items()
            if isinstance(type_, GraphQLScalarType) and not is_specified_scalar_type(type_)}


@pytest.fixture(scope="module", params=published.ALL, ids=lambda s: s.name)
def public(request):
    try:
        path = published.fetch(request.param)
    except published.Unavailable as exc:
        pytest.skip(f"{request.param.name} schema unavailable: {exc}")
    with serve(path) as stub:
        yield request.param, load_schema(str(path)).schema, stub


def _check(stub, schema, query: str, tally: dict) -> None:
    response = httpx.post(stub.endpoint, content=json.dumps({"query": query}),
                          headers={"content-type": "application/json"}, timeout=30)
    tally["requests"] += 1
    assert response.status_code < 500, (response.status_code, response.text[:500], query)
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, (body.get("errors"), query)
    found = conformance.problems(schema, parse(query), body)
    assert not found, (found[:5], query)


def test_githubs_published_sdl_is_served_with_its_duplicates_merged() -> None:
    try:
        path = published.fetch(published.GITHUB_SDL)
    except published.Unavailable as exc:
        pytest.skip(f"{published.GITHUB_SDL.name} schema unavailable: {exc}")
    loaded = load_schema(str(path))
    assert [w.split(": ", 1)[1].split(" is defined")[0] for w in loaded.warnings] == [
        "EnterpriseOwnerInfo.repositoryDeployKeySetting", "EnterpriseOwnerInfo.repositoryDeployKeySettingOrganizations"]
    with serve(path) as stub:
        data = stub.data('{ repository(owner: "octocat", name: "hello") { name owner { login } stargazerCount } }')
    assert data["repository"]["name"] == "hello" and data["repository"]["stargazerCount"] >= 0


def test_generated_queries_and_mutations_get_valid_answers(public) -> None:
    which, schema, stub = public
    tally = {"requests": 0}
    def strict(count: int) -> settings:
        return settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate, Phase.shrink],
                        suppress_health_check=list(HealthCheck))

    @strict(QUERIES)
    @given(queries(schema, custom_scalars=_scalars(schema), allow_x00=False))
    def ask(query: str) -> None:
        _check(stub, schema, query, tally)

    ask()
    if schema.mutation_type is not None:
        @strict(MUTATIONS)
        @given(mutations(schema, custom_scalars=_scalars(schema), allow_x00=False))
        def change(query: str) -> None:
            _check(stub, schema, query, tally)

        change()
    print(f"\n{which.name}: {tally['requests']} requests, 0 server errors, 0 invalid responses")

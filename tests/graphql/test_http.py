"""GraphQL over HTTP on a stateless stub: the GraphQL-over-HTTP rules, introspection, the explorer,
deterministic values by field name and type, directives, examples, scenarios and magic values."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

import httpx
import pytest
from graphql import get_introspection_query, parse

from sandlot.graphql.schema import load_schema
from tests.graphql import conformance
from tests.graphql.servers import FIXTURES, SHOP, Stub, serve

GRAPHQL_RESPONSE = "application/graphql-response+json"
QUERY = """
query Everything($id: ID!) {
  viewer { id name email createdAt orderCount avatarUrl tier nickname motto tags
           orders(first: 2) { edges { cursor node { id total status } } pageInfo { hasNextPage endCursor } totalCount } }
  customer(id: $id) { id name }
  search(text: "ada") { __typename ... on Customer { name } ... on Order { total } }
  node(id: "x1") { id ... on Customer { email } }
}"""


@pytest.fixture(scope="module")
def stub() -> Stub:
    with serve() as running:
        yield running


def _valid(query: str, body: dict, variables: dict | None = None) -> None:
    schema = load_schema(str(SHOP)).schema
    found = conformance.problems(schema, parse(query), body, variables)
    assert not found, found


def test_post_answers_data_valid_for_the_query_and_the_same_every_time(stub: Stub) -> None:
    first = stub.post(QUERY, {"id": "cus_42"})
    assert first.status_code == 200 and first.headers["content-type"] == "application/json; charset=utf-8"
    body = first.json()
    _valid(QUERY, body, {"id": "cus_42"})
    assert stub.post(QUERY, {"id": "cus_42"}).json() == body
    viewer = body["data"]["viewer"]
    assert "@" in viewer["email"] and viewer["email"].split("@")[1] in ("example.com", "example.org", "example.net")
    assert viewer["createdAt"][:2] == "20" and viewer["createdAt"].endswith("Z")
    assert viewer["orderCount"] >= 1 and viewer["orders"]["totalCount"] >= 1
    assert viewer["avatarUrl"].startswith("https://")
    assert len(viewer["tags"]) == 2  # @listLength(min: 2, max: 2)
    assert viewer["motto"] in ("carpe diem", "veni, vidi, vici")  # @examples
    assert viewer["nickname"] and " " not in viewer["nickname"]  # @fake(type: firstName)
    assert len(viewer["orders"]["edges"]) == 2  # first: 2
    assert body["data"]["customer"]["id"] == "cus_42"  # the argument names the object
    # one object, one value, whatever else the query asks or however it is aliased
    again = stub.data('query { customer(id: "cus_42") { who: name id } }')
    assert again["customer"]["who"] == body["data"]["customer"]["name"]


def test_seed_changes_values(tmp_path: Path) -> None:
    with serve(config={}) as one:
        first = one.data("{ viewer { name } }")
    from sandlot.graphql.engine import GraphQLEngine, GraphQLRequest

    other = GraphQLEngine.from_source(str(SHOP), seed=7).execute(GraphQLRequest("{ viewer { name } }")).result
    assert other["data"] != first


def test_get_runs_queries_and_refuses_mutations(stub: Stub) -> None:
    query = urllib.parse.quote("{ viewer { name } }")
    response = httpx.get(f"{stub.endpoint}?query={query}", headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 200 and response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert response.json()["data"]["viewer"]["name"]
    mutation = urllib.parse.quote('mutation { deleteCustomer(id: "x") }')
    response = httpx.get(f"{stub.endpoint}?query={mutation}")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    variables = urllib.parse.quote(json.dumps({"id": "c9"}))
    response = httpx.get(f"{stub.endpoint}?query={urllib.parse.quote('query($id: ID!) { customer(id: $id) { id } }')}"
                         f"&variables={variables}")
    assert response.json() == {"data": {"customer": {"id": "c9"}}}


def test_status_codes_follow_the_media_type(stub: Stub) -> None:
    invalid = "{ viewer { nope } }"
    assert stub.post(invalid, accept=GRAPHQL_RESPONSE).status_code == 400
    legacy = stub.post(invalid, accept="application/json")
    assert legacy.status_code == 200 and legacy.json()["errors"][0]["message"].startswith("Cannot query field 'nope'")
    assert stub.post("{ viewer {", accept=GRAPHQL_RESPONSE).status_code == 400
    bad_variables = stub.post("query($id: ID!) { customer(id: $id) { id } }", {}, accept=GRAPHQL_RESPONSE)
    assert bad_variables.status_code == 400 and "data" not in bad_variables.json()
    assert stub.post("{ __typename }", accept="text/plain").status_code == 406
    assert stub.post("{ __typename }", accept="*/*").headers["content-type"].startswith("application/json")
    ok = stub.post("{ __typename }", accept=f"{GRAPHQL_RESPONSE}, application/json")
    assert ok.status_code == 200 and ok.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    response = httpx.post(stub.endpoint, content=b"{}", headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["errors"][0]["message"].startswith("Give the GraphQL")
    response = httpx.post(stub.endpoint, content=b"not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    response = httpx.post(stub.endpoint, content=b"query=x", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert httpx.put(stub.endpoint).status_code == 405
    assert httpx.post(stub.url + "/other", json={"query": "{ __typename }"}).status_code == 404
    subscription = stub.post("subscription { heartbeat }")
    assert subscription.status_code == 400 and "graphql-transport-ws" in subscription.text


def test_introspection_and_the_openapi_surface(stub: Stub) -> None:
    data = stub.data(get_introspection_query())
    names = {t["name"] for t in data["__schema"]["types"]}
    assert {"Customer", "Order", "OrderConnection", "Query", "Mutation", "Subscription"} <= names
    surface = httpx.get(stub.url + "/__sandlot/openapi.json").json()
    assert set(surface["paths"]["/graphql"]) == {"get", "post"}


def test_explorer_page_is_served_from_the_wheel_without_a_cdn(stub: Stub) -> None:
    page = httpx.get(stub.endpoint, headers={"accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Sandlot GraphQL explorer" in html and 'const endpoint = "/graphql";' in html
    assert "fetch(endpoint" in html and "http://" not in html and "https://" not in html
    # a GET with a query and Accept text/html is still a query
    response = httpx.get(stub.endpoint + "?query=%7B__typename%7D", headers={"accept": "text/html, */*"})
    assert response.json() == {"data": {"__typename": "Query"}}


def test_mutations_echo_their_input(stub: Stub) -> None:
    data = stub.data('mutation { createCustomer(input: {name: "Ada", email: "ada@example.com", '
                     'clientMutationId: "m1"}) { customer { id name email tier } clientMutationId } }')
    assert data["createCustomer"]["customer"]["name"] == "Ada"
    assert data["createCustomer"]["customer"]["email"] == "ada@example.com"
    assert data["createCustomer"]["clientMutationId"] == "m1"


def test_examples_file_wins_over_generation() -> None:
    with serve(examples=FIXTURES / "examples.yaml") as stub:
        data = stub.data("query ViewerName { viewer { name email orderCount } }")
        assert data["viewer"]["name"] == "Example Person"
        assert data["viewer"]["email"] == "example.person@example.com"
        assert isinstance(data["viewer"]["orderCount"], int)  # not in the example: generated
        assert stub.data("{ customers { name } }") == {"customers": [{"name": "From The File"}]}
        assert stub.data("{ customers { name } }", headers={}) == {"customers": [{"name": "From The File"}]}


def test_field_error_scenario_gives_partial_data(stub: Stub) -> None:
    query = "{ viewer { name avatarUrl } customers(first: 1) { name } }"
    response = stub.post(query, headers={"sandlot-scenario": "field_error; path=viewer.avatarUrl; code=FORBIDDEN"})
    body = response.json()
    assert response.status_code == 200
    assert body["data"]["viewer"]["avatarUrl"] is None and body["data"]["viewer"]["name"]
    assert body["data"]["customers"][0]["name"]
    assert body["errors"] == [{"message": "This field failed (the field_error scenario).",
                               "locations": [{"line": 1, "column": 17}], "path": ["viewer", "avatarUrl"],
                               "extensions": {"code": "FORBIDDEN"}}]
    _valid(query, body)
    # without a path, the first nested leaf fails; a non-null one takes its nullable parent along
    query = '{ customer(id: "c1") { name } orders(first: 1) { totalCount } }'
    body = stub.post(query, headers={"sandlot-scenario": "field_error; message=Boom"}).json()
    assert body["errors"][0]["path"] == ["customer", "name"] and body["errors"][0]["message"] == "Boom"
    assert body["data"]["customer"] is None and body["data"]["orders"]["totalCount"] >= 1
    _valid(query, body)


def test_request_error_scenario_and_http_scenarios(stub: Stub) -> None:
    query = "{ viewer { name } }"
    response = stub.post(query, headers={"sandlot-scenario": "request_error; code=UPSTREAM; status=502"},
                         accept=GRAPHQL_RESPONSE)
    assert response.status_code == 502 and response.json() == {
        "errors": [{"message": "The request failed (the request_error scenario).", "extensions": {"code": "UPSTREAM"}}]}
    assert stub.post(query, headers={"sandlot-scenario": "request_error; status=400"}).status_code == 200  # legacy json
    unavailable = stub.post(query, headers={"sandlot-scenario": "unavailable; retry_after=7"})
    assert unavailable.status_code == 503 and unavailable.headers["retry-after"] == "7"
    assert unavailable.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    limited = stub.post(query, headers={"sandlot-scenario": "rate_limited"})
    assert limited.status_code == 429 and limited.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    typo = stub.post(query, headers={"sandlot-scenario": "field_eror"})
    assert typo.status_code == 400 and "field_error" in typo.text
    assert stub.post(query, headers={"sandlot-scenario": "field_error; colour=red"}).status_code == 400
    listed = httpx.get(stub.url + "/__sandlot/scenarios").json()["builtin"]
    assert {"field_error", "request_error", "unavailable"} <= set(listed)


def test_latency_and_timeout_scenarios(stub: Stub) -> None:
    query = "{ viewer { name } }"
    started = time.monotonic()
    slow = stub.post(query, headers={"sandlot-scenario": "slow; latency=300ms"})
    assert time.monotonic() - started >= 0.3  # held at least the latency (a lower bound only)
    assert slow.status_code == 200 and slow.json() == stub.post(query).json()
    started = time.monotonic()
    stub.post(query, headers={"sandlot-latency": "300ms"}).raise_for_status()
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    with pytest.raises(httpx.RemoteProtocolError):  # held, then closed without a byte
        stub.post(query, headers={"sandlot-scenario": "timeout; delay=300ms"})
    assert time.monotonic() - started >= 0.3
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        stub.post(query, headers={"sandlot-scenario": "connection_reset"})
    assert stub.data(query)["viewer"]["name"]  # the stub is fine afterwards


def test_sticky_scenario_for_a_credential(stub: Stub) -> None:
    headers = {"authorization": "Bearer sk_test_sticky"}
    httpx.put(stub.url + "/__sandlot/scenario", json={"scenario": "field_error; path=viewer.name"},
              headers=headers).raise_for_status()
    try:
        body = stub.post("{ viewer { name } }", headers=headers).json()
        assert body["errors"][0]["path"] == ["viewer", "name"]
        assert "errors" not in stub.post("{ viewer { name } }").json()  # another caller: normal
    finally:
        httpx.delete(stub.url + "/__sandlot/scenario", headers=headers).raise_for_status()
    assert "errors" not in stub.post("{ viewer { name } }", headers=headers).json()


def test_magic_values_from_the_schema_and_the_config() -> None:
    config = {"graphql": {"magic": [{"field": "Mutation.createOrder", "when": {"card.number": "4000000000000002"},
                                     "error": "Your card was declined.", "code": "CARD_DECLINED"}]}}
    with serve(config=config) as stub:
        blocked = stub.post('mutation { createCustomer(input: {name: "B", email: "blocked@example.com"}) '
                            '{ customer { id } } }').json()
        assert blocked == {"data": None, "errors": [{
            "message": "This email address is blocked.", "locations": [{"line": 1, "column": 12}],
            "path": ["createCustomer"], "extensions": {"code": "CUSTOMER_BLOCKED"}}]}
        declined = stub.post('mutation { createOrder(customerId: "c", total: 5, currency: "EUR", '
                             'card: {number: "4000000000000002"}) { id } }').json()
        assert declined["errors"][0]["extensions"]["code"] == "CARD_DECLINED"
        fine = stub.data('mutation { createOrder(customerId: "c", total: 5, currency: "EUR", '
                         'card: {number: "4242424242424242"}) { id total } }')
        assert fine["createOrder"]["total"] == 5


def test_the_first_flow_of_the_docs_shows_what_the_stub_answers(stub: Stub) -> None:
    """docs/graphql.md's "Mock a schema" shows the stub's real answer (seed 0)."""
    text = (Path(__file__).parents[2] / "docs" / "graphql.md").read_text()
    flow = text.split("### Mock a schema", 1)[1].split("### ", 1)[0]
    query = json.loads(flow.split("-d '", 1)[1].split("'", 1)[0])["query"]
    documented = json.loads(flow.split("```json", 1)[1].split("```", 1)[0])
    assert stub.post(query).json() == documented
    partial = text.split("### A partial error on demand", 1)[1].split("### ", 1)[0]
    query = json.loads(partial.split("-d '", 1)[1].split("'", 1)[0])["query"]
    documented = json.loads(partial.split("```json", 1)[1].split("```", 1)[0])
    header = partial.split("-H 'Sandlot-Scenario: ", 1)[1].split("'", 1)[0]
    assert stub.post(query, headers={"sandlot-scenario": header}).json() == documented


def test_another_path_from_the_config() -> None:
    with serve(config={"graphql": {"path": "/api/graphql"}}) as stub:
        response = httpx.post(stub.url + "/api/graphql", json={"query": "{ __typename }"})
        assert response.json() == {"data": {"__typename": "Query"}}
        assert httpx.post(stub.endpoint, json={"query": "{ __typename }"}).status_code == 404
        surface = httpx.get(stub.url + "/__sandlot/openapi.json").json()
        assert list(surface["paths"]) == ["/api/graphql"]

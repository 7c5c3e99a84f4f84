"""Stateful GraphQL: objects by type and id in the same per-tenant store as REST (keys, tenants,
fixtures, reset, quotas, virtual clock), mutations by naming, lookups, Relay connections."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from graphql import parse

from sandlot.graphql.schema import load_schema
from tests.graphql import conformance
from tests.graphql.servers import FIXTURES, SHOP, Stub, serve

SEED = FIXTURES / "shop-fixtures.yaml"


def _key(stub: Stub) -> dict[str, str]:
    issued = stub.admin("POST", "keys", {"name": "test"})
    return {"authorization": f"Bearer {issued['key']}"}


def _valid(query: str, body: dict) -> None:
    found = conformance.problems(load_schema(str(SHOP)).schema, parse(query), body)
    assert not found, found


@pytest.fixture()
def stub(tmp_path: Path) -> Stub:
    with serve(db=tmp_path / "state.db", fixtures=SEED) as running:
        yield running


def test_seeded_objects_lookups_and_node(stub: Stub) -> None:
    auth = _key(stub)
    data = stub.data('{ customer(id: "cus_ada") { id name email tier orderCount } '
                     'node(id: "ord_1") { __typename ... on Order { total currency customer { name } } } '
                     'customers { id } }', headers=auth)
    assert data["customer"]["name"] == "Ada Lovelace" and data["customer"]["tier"] == "PRO"
    assert isinstance(data["customer"]["orderCount"], int)  # not seeded: generated, valid
    assert data["node"] == {"__typename": "Order", "total": 25.5, "currency": "EUR",
                            "customer": {"name": "Ada Lovelace"}}
    assert [c["id"] for c in data["customers"]] == ["cus_ada", "cus_grace"]
    missing = stub.post('{ customer(id: "cus_nobody") { id } }', headers=auth).json()
    assert missing == {"data": {"customer": None}}


def test_create_then_query_update_delete(stub: Stub) -> None:
    auth = _key(stub)
    created = stub.data('mutation { createCustomer(input: {name: "Bob", email: "bob@example.com", '
                        'clientMutationId: "c1"}) { customer { id name email createdAt } clientMutationId } }',
                        headers=auth)["createCustomer"]
    bob = created["customer"]
    assert bob["id"].startswith("cust_") and created["clientMutationId"] == "c1"
    assert abs(dt.datetime.fromisoformat(bob["createdAt"].replace("Z", "+00:00")).timestamp()
               - dt.datetime.now(dt.UTC).timestamp()) < 60
    query = f'{{ customer(id: "{bob["id"]}") {{ id name email createdAt }} }}'
    assert stub.data(query, headers=auth)["customer"] == bob
    assert bob["id"] in [c["id"] for c in stub.data("{ customers { id } }", headers=auth)["customers"]]
    updated = stub.data(f'mutation {{ updateCustomer(id: "{bob["id"]}", name: "Robert", tier: ENTERPRISE) '
                        f'{{ id name tier email }} }}', headers=auth)["updateCustomer"]
    assert updated == {"id": bob["id"], "name": "Robert", "tier": "ENTERPRISE", "email": "bob@example.com"}
    assert stub.data(f'mutation {{ deleteCustomer(id: "{bob["id"]}") }}', headers=auth) == {"deleteCustomer": True}
    assert stub.data(query, headers=auth) == {"customer": None}
    gone = stub.post(f'mutation {{ deleteCustomer(id: "{bob["id"]}") }}', headers=auth).json()
    assert gone["errors"][0]["extensions"]["code"] == "NOT_FOUND" and gone["data"] is None


def test_relations_and_relay_connections_paginate(stub: Stub) -> None:
    auth = _key(stub)
    for total in (10, 20, 30):
        stub.data(f'mutation {{ createOrder(customerId: "cus_ada", total: {total}, currency: "EUR") {{ id }} }}',
                  headers=auth)
    query = ('query($after: String) { customer(id: "cus_ada") { orders(first: 2, after: $after) { '
             'edges { cursor node { total customer { id } } } nodes { total } '
             'pageInfo { hasNextPage hasPreviousPage startCursor endCursor } totalCount } } }')
    first = stub.post(query, headers=auth).json()
    _valid(query, first)
    page = first["data"]["customer"]["orders"]
    assert [e["node"]["total"] for e in page["edges"]] == [25.5, 10] == [n["total"] for n in page["nodes"]]
    assert page["totalCount"] == 4 and page["pageInfo"]["hasNextPage"] and not page["pageInfo"]["hasPreviousPage"]
    assert page["edges"][0]["node"]["customer"] == {"id": "cus_ada"}
    second = stub.data(query, {"after": page["pageInfo"]["endCursor"]}, headers=auth)["customer"]["orders"]
    assert [e["node"]["total"] for e in second["edges"]] == [20, 30]
    assert not second["pageInfo"]["hasNextPage"] and second["pageInfo"]["hasPreviousPage"]
    last = stub.data("{ orders(last: 1) { nodes { total } totalCount } }", headers=auth)["orders"]
    assert last == {"nodes": [{"total": 30}], "totalCount": 4}
    paid = stub.data("{ orders(status: PAID) { totalCount } }", headers=auth)["orders"]
    assert paid == {"totalCount": 1}
    grace = stub.data('{ customer(id: "cus_grace") { orders { totalCount } } }', headers=auth)
    assert grace["customer"]["orders"]["totalCount"] == 0


def test_tenants_are_isolated_and_reset_returns_to_the_seed(stub: Stub) -> None:
    one, two = _key(stub), _key(stub)
    made = stub.data('mutation { createCustomer(input: {name: "Only Mine", email: "m@example.com"}) '
                     '{ customer { id } } }', headers=one)["createCustomer"]["customer"]["id"]
    assert stub.data(f'{{ customer(id: "{made}") {{ id }} }}', headers=two) == {"customer": None}
    assert len(stub.data("{ customers { id } }", headers=one)["customers"]) == 3
    assert len(stub.data("{ customers { id } }", headers=two)["customers"]) == 2
    httpx.post(stub.url + "/__sandlot/reset", headers=one).raise_for_status()
    assert len(stub.data("{ customers { id } }", headers=one)["customers"]) == 2
    unknown = stub.post("{ viewer { id } }", headers={"authorization": "Bearer sk_sbx_" + "x" * 43})
    assert unknown.status_code == 401
    assert unknown.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    log = httpx.get(stub.url + "/__sandlot/requests", headers=one).json()["requests"]
    assert log and log[0]["path"] == "/graphql" and log[0]["method"] == "POST"


def test_quota_and_virtual_clock(tmp_path: Path) -> None:
    with serve(db=tmp_path / "q.db", fixtures=SEED, config={"quota": {"objects": 1}}) as stub:
        auth = _key(stub)
        stub.admin("POST", "clock/advance", {"by": "3d"}, key=auth["authorization"].split()[1])
        order = stub.data('mutation { createOrder(customerId: "cus_ada", total: 1, currency: "EUR") '
                          '{ id createdAt } }', headers=auth)["createOrder"]
        created = dt.datetime.fromisoformat(order["createdAt"].replace("Z", "+00:00")).timestamp()
        assert abs(created - (dt.datetime.now(dt.UTC).timestamp() + 3 * 86400)) < 120
        refused = stub.post('mutation { createOrder(customerId: "cus_ada", total: 2, currency: "EUR") { id } }',
                            headers=auth).json()
        assert refused["errors"][0]["extensions"]["code"] == "QUOTA_EXCEEDED" and refused["data"] is None


def test_bad_fixtures_are_refused_naming_the_object(tmp_path: Path) -> None:
    from sandlot.state.fixtures import FixtureError

    bad = tmp_path / "bad.yaml"
    bad.write_text("Customer:\n  - {id: c1, name: A, colour: red}\n")
    with pytest.raises(FixtureError, match=r"at /Customer/0/colour: Customer has no field 'colour'"):
        with serve(db=tmp_path / "b.db", fixtures=bad):
            pass
    bad.write_text("Widget:\n  - {id: w1}\n")
    with pytest.raises(FixtureError, match="collection 'Widget' is not one the spec defines"):
        with serve(db=tmp_path / "c.db", fixtures=bad):
            pass


def test_aliases_read_the_field_they_alias(stub: Stub) -> None:
    auth = _key(stub)
    data = stub.data('{ customer(id: "cus_ada") { name: email email: name } }', headers=auth)
    assert data == {"customer": {"name": "ada@example.com", "email": "Ada Lovelace"}}


BOOKS = '''
interface Node { id: ID! }
type Book implements Node { id: ID! title: String! pages: Int }
input AddBookInput { title: String! pages: Int }
type Query { node(id: ID!): Node book(id: ID!): Book books: [Book!]! }
type Mutation {
  addBook(input: AddBookInput!): Book!
  editBook(id: ID!, title: String): Book!
  removeBook(id: ID!): ID!
}
'''


def test_add_edit_remove_are_inferred_by_naming_and_node_finds_what_was_made(tmp_path: Path) -> None:
    schema = tmp_path / "books.graphql"
    schema.write_text(BOOKS)
    with serve(schema, db=tmp_path / "books.db") as stub:
        auth = _key(stub)
        made = stub.data('mutation { addBook(input: {title: "Dune", pages: 412}) { id title pages } }',
                         headers=auth)["addBook"]
        assert made["title"] == "Dune" and made["pages"] == 412
        book = made["id"]
        found = stub.data(f'{{ node(id: "{book}") {{ __typename ... on Book {{ title }} }} '
                          f'book(id: "{book}") {{ pages }} books {{ id }} }}', headers=auth)
        assert found == {"node": {"__typename": "Book", "title": "Dune"}, "book": {"pages": 412},
                         "books": [{"id": book}]}
        edited = stub.data(f'mutation {{ editBook(id: "{book}", title: "Dune Messiah") {{ title pages }} }}',
                           headers=auth)
        assert edited == {"editBook": {"title": "Dune Messiah", "pages": 412}}
        assert stub.data(f'mutation {{ removeBook(id: "{book}") }}', headers=auth) == {"removeBook": book}
        assert stub.data(f'{{ node(id: "{book}") {{ id }} books {{ id }} }}', headers=auth) == {
            "node": None, "books": []}

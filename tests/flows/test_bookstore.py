"""Folio Books (specs/bookstore.yaml), a HAL bookstore: `_links` to each resource itself, its
sub-resources and the resources its fields name, `_embedded` members of lists (paged from 0,
Spring-style `page` metadata) and a cart's embedded lines; accounts opened without a token and
an OAuth-style token endpoint (`access_token`, Bearer); books keyed by the ISBN the client sends,
cart lines that must name a book, orders that belong to the caller's account and can be
cancelled. Every answer is checked against the spec's own schema."""

from __future__ import annotations

import httpx

from tests.flows.conftest import SPECS, explain, valid

SPEC = SPECS / "bookstore.yaml"
AUSTEN = [("9780141439518", "Pride and Prejudice", 8.99), ("9780141439587", "Emma", 7.99)]
ADDRESS = {"name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London", "postalCode": "SW1Y 4LB",
           "country": "GB"}


def _account(api: httpx.Client, email: str, name: str) -> tuple[dict, dict]:
    """Open an account and log in; return it and the Authorization header with its token."""
    opened = api.post("/accounts", json={"email": email, "password": "correct horse battery", "name": name})
    assert opened.status_code == 201, opened.text
    token = api.post("/auth/token", json={"email": email, "password": "correct horse battery"})
    assert token.status_code == 200, token.text
    grant = valid(SPEC, token)
    assert grant["token_type"] == "Bearer" and grant["expires_in"] == 3600
    return valid(SPEC, opened), {"authorization": f"Bearer {grant['access_token']}"}


def test_bookstore_flow(stateful) -> None:  # type: ignore[no-untyped-def]
    root, other_key = stateful(SPEC)
    api = httpx.Client(base_url=root, timeout=10, headers={"accept": "application/hal+json, application/json, "
                                                                     "application/problem+json"})

    # Accounts: opened without a token, then the token endpoint issues one.
    ada, as_ada = _account(api, "ada@example.com", "Ada")
    assert ada == {"id": ada["id"], "email": "ada@example.com", "name": "Ada", "shippingAddress": None,
                   "createdAt": ada["createdAt"], "_links": {"self": {"href": f"{root}/accounts/me"}}}
    taken = api.post("/accounts", json={"email": "ada@example.com", "password": "0123456789", "name": "Eve"})
    assert taken.status_code == 409 and valid(SPEC, taken)["detail"] == "email has already been taken"
    wrong = api.post("/auth/token", json={"email": "ada@example.com", "password": "wrong"})
    assert wrong.status_code == 401 and valid(SPEC, wrong)["detail"] == "email or password is invalid"
    assert api.get("/accounts/me").status_code == 401
    me = api.get("/accounts/me", headers=as_ada)
    assert me.status_code == 200 and valid(SPEC, me)["id"] == ada["id"]
    moved = api.patch("/accounts/me", headers=as_ada, json={"shippingAddress": ADDRESS})
    assert moved.status_code == 200 and valid(SPEC, moved)["shippingAddress"] == ADDRESS

    # The catalogue: books keyed by the ISBN sent, the currency from the schema's default.
    for isbn, title, price in [*AUSTEN, ("9780486284736", "Frankenstein", 5.5)]:
        author = "Mary Shelley" if title == "Frankenstein" else "Jane Austen"
        added = api.post("/books", headers=as_ada, json={"isbn": isbn, "title": title, "author": author, "price": price})
        assert added.status_code == 201, added.text
        assert valid(SPEC, added) == {"isbn": isbn, "title": title, "author": author, "price": price,
                                      "currency": "EUR", "_links": {"self": {"href": f"{root}/books/{isbn}"}}}
    again = api.post("/books", headers=as_ada, json={"isbn": AUSTEN[0][0], "title": "x", "author": "y", "price": 1})
    assert again.status_code == 409 and valid(SPEC, again)["detail"] == "isbn has already been taken"
    assert valid(SPEC, api.get(f"/books/{AUSTEN[1][0]}"))["title"] == "Emma"
    assert api.get("/books/9780000000002").status_code == 404
    austen = valid(SPEC, api.get("/books", params={"author": "Jane Austen"}))
    assert [b["title"] for b in austen["_embedded"]["books"]] == ["Pride and Prejudice", "Emma"]
    first = valid(SPEC, api.get("/books", params={"size": 2}))
    assert first["page"] == {"size": 2, "totalElements": 3, "totalPages": 2, "number": 0}
    assert [b["title"] for b in first["_embedded"]["books"]] == ["Pride and Prejudice", "Emma"]
    assert first["_links"]["next"]["href"] == f"{root}/books?size=2&page=1"
    assert "prev" not in first["_links"]
    second = valid(SPEC, api.get(first["_links"]["next"]["href"]))
    assert [b["title"] for b in second["_embedded"]["books"]] == ["Frankenstein"] and second["page"]["number"] == 1
    assert second["_links"]["prev"]["href"] == f"{root}/books?size=2&page=0" and "next" not in second["_links"]

    # A cart: its lines embedded and counted, each linking to its book.
    made = api.post("/carts", headers=as_ada)
    assert made.status_code == 201, made.text
    cart = valid(SPEC, made)
    cid = cart["id"]
    assert (cart["status"], cart["itemCount"], cart["_embedded"]) == ("open", 0, {"items": []})
    assert cart["_links"] == {"self": {"href": f"{root}/carts/{cid}"}, "items": {"href": f"{root}/carts/{cid}/items"}}
    one = valid(SPEC, api.post(f"/carts/{cid}/items", headers=as_ada, json={"isbn": AUSTEN[0][0]}))
    assert one["quantity"] == 1  # the schema's default
    assert one["_links"] == {"self": {"href": f"{root}/carts/{cid}/items/{one['id']}"},
                             "book": {"href": f"{root}/books/{AUSTEN[0][0]}"}}
    two = valid(SPEC, api.post(f"/carts/{cid}/items", headers=as_ada, json={"isbn": AUSTEN[1][0], "quantity": 2}))
    ghost = api.post(f"/carts/{cid}/items", headers=as_ada, json={"isbn": "9780000000002"})
    assert ghost.status_code == 404 and valid(SPEC, ghost)["detail"] == "No such book: '9780000000002'"
    more = api.patch(f"/carts/{cid}/items/{two['id']}", headers=as_ada, json={"quantity": 3})
    assert more.status_code == 200 and valid(SPEC, more)["quantity"] == 3
    full = valid(SPEC, api.get(f"/carts/{cid}", headers=as_ada))
    assert full["itemCount"] == 2
    assert [(i["isbn"], i["quantity"]) for i in full["_embedded"]["items"]] == [(AUSTEN[0][0], 1), (AUSTEN[1][0], 3)]
    assert api.delete(f"/carts/{cid}/items/{one['id']}", headers=as_ada).status_code == 204
    lines = valid(SPEC, api.get(f"/carts/{cid}/items", headers=as_ada))
    assert [i["id"] for i in lines["_embedded"]["items"]] == [two["id"]]
    assert lines["_links"]["self"]["href"] == f"{root}/carts/{cid}/items"

    # Orders: for the caller's account, linking to their cart; cancelled by a transition.
    placed = api.post("/orders", headers=as_ada, json={"cartId": cid, "shippingAddress": ADDRESS})
    assert placed.status_code == 201, placed.text
    order = valid(SPEC, placed)
    oid = order["id"]
    assert (order["status"], order["accountId"], order["cartId"], order["shippingAddress"]) == \
        ("placed", ada["id"], cid, ADDRESS)
    assert order["_links"] == {"self": {"href": f"{root}/orders/{oid}"}, "cart": {"href": f"{root}/carts/{cid}"}}
    nowhere = api.post("/orders", headers=as_ada, json={"cartId": "00000000-0000-4000-8000-000000000000",
                                                        "shippingAddress": ADDRESS})
    assert nowhere.status_code == 404 and valid(SPEC, nowhere)["detail"].startswith("No such cart")
    cancelled = api.post(f"/orders/{oid}/cancel", headers=as_ada)
    assert cancelled.status_code == 200 and valid(SPEC, cancelled)["status"] == "cancelled"
    listed = valid(SPEC, api.get("/orders", headers=as_ada, params={"status": "cancelled"}))
    assert [o["id"] for o in listed["_embedded"]["orders"]] == [oid] and listed["page"]["totalElements"] == 1
    assert valid(SPEC, api.get("/orders", headers=as_ada, params={"status": "placed"}))["_embedded"]["orders"] == []

    # Abandoning the cart takes its lines with it.
    assert api.delete(f"/carts/{cid}", headers=as_ada).status_code == 204
    assert api.get(f"/carts/{cid}", headers=as_ada).status_code == 404
    assert api.get(f"/carts/{cid}/items", headers=as_ada).status_code == 404

    # Another tenant (its sandbox key in Sandlot-Key) has an empty catalogue; ada's token is not valid there.
    other = {"sandlot-key": other_key}
    assert api.get("/accounts/me", headers={**other, **as_ada}).status_code == 401
    empty = valid(SPEC, api.get("/books", headers=other))
    assert empty["_embedded"] == {"books": []} and empty["page"]["totalElements"] == 0


def test_bookstore_explain() -> None:
    text = explain(SPEC)
    assert "books: key isbn (as sent), HAL (links self)" in text
    assert "carts: id id (uuid), HAL (links self, items), counts items in itemCount, timestamps createdAt" in text
    assert "orders: id id (pattern ^ORD-[0-9A-Z]{8}$), HAL (links self, cart), timestamps placedAt, fills " \
           "accountId (the caller's account)" in text
    assert "identity: accounts (log in with email; token in `access_token`)" in text
    assert "POST /accounts sign up a user of accounts" in text
    assert "POST /auth/token log in a user of accounts" in text
    assert "GET /books list books, filters author, items in _embedded.books" in text
    assert "POST /orders/{orderId}/cancel transition orders: set status to 'cancelled'" in text

"""The flows' checks against the shared real specs where they apply (../shared/specs): the
OpenAPI Initiative's petstore-expanded (plain objects, integer ids, a tag filter) driven through
its documented operations over HTTP, with its explain output."""

from __future__ import annotations

import httpx

from tests.flows.conftest import explain
from tests.mock.conftest import shared_spec as shared


def test_petstore_expanded_flow(stateful) -> None:  # type: ignore[no-untyped-def]
    root, _ = stateful(shared("oai/petstore-expanded.yaml"))
    api = httpx.Client(base_url=root, timeout=10)
    rex = api.post("/pets", json={"name": "Rex", "tag": "dog"})
    assert rex.status_code == 200, rex.text  # the spec documents 200 for the create
    assert rex.json() == {"name": "Rex", "tag": "dog", "id": 1}
    tom = api.post("/pets", json={"name": "Tom", "tag": "cat"}).json()
    assert tom["id"] == 2
    assert api.get("/pets/1").json() == {"name": "Rex", "tag": "dog", "id": 1}
    assert [p["name"] for p in api.get("/pets").json()] == ["Rex", "Tom"]
    assert [p["name"] for p in api.get("/pets", params={"tags": "cat"}).json()] == ["Tom"]
    assert [p["name"] for p in api.get("/pets", params={"limit": 1}).json()] == ["Rex"]
    assert api.delete("/pets/1").status_code == 204
    assert api.get("/pets/1").status_code != 200
    assert [p["name"] for p in api.get("/pets").json()] == ["Tom"]


def test_petstore_expanded_explain() -> None:
    text = explain(shared("oai/petstore-expanded.yaml"))
    assert "pets: id id (int)" in text
    assert "GET /pets list pets, filters tags->tag" in text
    assert "DELETE /pets/{id} delete pets" in text

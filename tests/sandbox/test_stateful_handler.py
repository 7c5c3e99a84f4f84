"""The stateful handler in-process: CRUD over inferred collections, tenants, keys, seeds,
reset, quotas and retention, with every response checked against the example spec."""

from __future__ import annotations

import json

import pytest

from sandlot.mock.messages import MockRequest
from sandlot.state.journal import JournalQuery, JournalSettings

from .conftest import ADMIN_TOKEN, Client


def test_multi_step_flow_create_charge_refund_list(client: Client) -> None:
    customer = client("POST", "/customers", {"name": "Bob", "email": "bob@example.com"})
    assert customer.status == 201
    cus = customer.json()
    assert cus["id"].startswith("cus_") and cus["name"] == "Bob" and cus["object"] == "customer"
    assert cus["created"] == 1_800_000_000  # the handler's clock, in the schema's unix style

    charge = client("POST", "/charges", {"amount": 1200, "currency": "eur", "customer": cus["id"]})
    assert charge.status == 201
    ch = charge.json()
    assert ch["id"].startswith("ch_") and ch["customer"] == cus["id"] and ch["amount"] == 1200

    refund = client("POST", "/refunds", {"charge": ch["id"], "amount": 200})
    assert refund.status == 201
    re_ = refund.json()
    assert re_["id"].startswith("re_") and re_["charge"] == ch["id"]

    listed = client("GET", "/refunds", query=f"charge={ch['id']}").json()
    assert [r["id"] for r in listed["data"]] == [re_["id"]]
    assert listed["object"] == "list" and listed["has_more"] is False
    nested = client("GET", f"/charges/{ch['id']}/refunds").json()
    assert [r["id"] for r in nested["data"]] == [re_["id"]]

    assert client("GET", f"/charges/{ch['id']}").json() == ch


def test_update_delete_and_unknown_id_gets_the_specs_404(client: Client) -> None:
    cus = client("POST", "/customers", {"email": "c@example.com"}).json()
    patched = client("PATCH", f"/customers/{cus['id']}", {"name": "Carol"})
    assert patched.status == 200
    assert patched.json() == {**cus, "name": "Carol"}
    deleted = client("DELETE", f"/customers/{cus['id']}")
    assert deleted.status == 200
    assert deleted.json()["id"] == cus["id"] and deleted.json()["deleted"] is True
    missing = client("GET", f"/customers/{cus['id']}")
    assert missing.status == 404
    assert missing.json() == {"error": {"type": "invalid_request_error",  # the documented shape, the real reason
                                        "message": f"no customer {cus['id']!r} in this sandbox tenant"}}
    assert client("PATCH", "/customers/cus_nope", {"name": "x"}).status == 404
    assert client("DELETE", "/customers/cus_nope").status == 404


def test_relations_must_name_existing_objects(client: Client) -> None:
    refused = client("POST", "/charges", {"amount": 500, "currency": "usd", "customer": "cus_ghost"})
    assert refused.status == 404  # documented for POST /charges, whose example says "No such object."
    assert refused.json() == {"error": {"type": "invalid_request_error", "message": "No such customer: 'cus_ghost'"}}
    assert "cus_ghost" in refused.header("x-sandlot-errors")
    assert client("GET", "/charges/ch_nope/refunds").status == 404


def test_list_pagination_with_cursor_and_filters(client: Client) -> None:
    ids = [client("POST", "/customers", {"email": f"p{i}@example.com"}).json()["id"]
           for i in range(5)]
    everyone = ["cus_seed_ada", "cus_seed_grace", *ids]
    seen, after = [], None
    while True:
        page = client("GET", "/customers",
                      query="limit=3" + (f"&starting_after={after}" if after else "")).json()
        seen += [c["id"] for c in page["data"]]
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert seen == everyone
    by_email = client("GET", "/customers", query="email=p3%40example.com").json()
    assert [c["id"] for c in by_email["data"]] == [ids[3]]
    # The list documents no 400/404, so an unknown cursor gives an empty page.
    unknown = client("GET", "/customers", query="starting_after=cus_nope")
    assert unknown.status == 200 and unknown.json()["data"] == [] and not unknown.json()["has_more"]


def test_tenants_are_isolated(handler) -> None:
    _, alice_key = handler.state.issue_key(name="alice")
    _, bob_key = handler.state.issue_key(name="bob")
    alice, bob = Client(handler, alice_key.secret), Client(handler, bob_key.secret)
    cus = alice("POST", "/customers", {"email": "a@example.com"}).json()
    assert bob("GET", f"/customers/{cus['id']}").status == 404
    assert bob("PATCH", f"/customers/{cus['id']}", {"name": "x"}).status == 404
    assert bob("DELETE", f"/customers/{cus['id']}").status == 404
    assert cus["id"] not in [c["id"] for c in bob("GET", "/customers").json()["data"]]
    assert alice("GET", f"/customers/{cus['id']}").status == 200


def test_live_unknown_missing_and_revoked_keys(handler) -> None:
    for live in ("sk_live_51Habc", "pk_live_x", "rk_live_y"):
        refused = Client(handler, live)("GET", "/customers")
        assert refused.status == 401
        assert "sandbox" in refused.json()["detail"] and "never accepted" in refused.json()["title"]
    assert Client(handler, "sk_sbx_not_issued")("GET", "/customers").status == 401
    missing = Client(handler, None)("GET", "/customers")
    assert missing.status == 401
    assert missing.json() == {"error": {"type": "invalid_request_error",
                                        "message": "missing credentials: this operation needs bearerAuth"}}
    tenant, key = handler.state.issue_key()
    assert Client(handler, key.secret)("GET", "/customers").status == 200
    handler.state.store.revoke_key(key.key_id, 0)
    assert Client(handler, key.secret)("GET", "/customers").status == 401


def test_custom_live_key_patterns(make_handler) -> None:
    handler = make_handler(live_key_patterns=("prod_*",))
    assert Client(handler, "prod_123")("GET", "/customers").status == 401
    assert "sandbox" in Client(handler, "prod_123")("GET", "/customers").json()["detail"]


def test_reset_restores_the_seed_exactly(client: Client, payments_fixtures: dict) -> None:
    before = {p: client("GET", p, query="limit=100").json() for p in ("/customers", "/charges", "/refunds")}
    assert [c["id"] for c in before["/customers"]["data"]] == \
        [c["id"] for c in payments_fixtures["customers"]]
    cus = client("POST", "/customers", {"email": "z@example.com"}).json()
    client("PATCH", "/customers/cus_seed_ada", {"name": "Changed"})
    client("DELETE", "/customers/cus_seed_grace")
    client("POST", "/charges", {"amount": 900, "currency": "usd", "customer": cus["id"]})
    reset = client("POST", "/__sandlot/reset")
    assert reset.status == 200 and reset.json()["objects"] == 3
    after = {p: client("GET", p, query="limit=100").json() for p in before}
    assert after == before


def test_admin_api_keys_requests_and_reset_by_key(handler) -> None:
    admin = Client(handler, ADMIN_TOKEN)
    created = admin("POST", "/__sandlot/keys", {"name": "ci"})
    assert created.status == 201
    secret, tenant = created.json()["key"], created.json()["tenant"]
    assert secret.startswith("sk_sbx_")
    user = Client(handler, secret)
    user("POST", "/customers", {"email": "log@example.com"})
    user("GET", "/customers/cus_nope")
    log = admin("GET", "/__sandlot/requests", query=f"tenant={tenant}").json()["requests"]
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/v1/customers/cus_nope", 404), ("POST", "/v1/customers", 201)]
    assert log[1]["request"]["json"] == {"email": "log@example.com"} and log[1]["duration_ms"] >= 0
    assert log[1]["request"]["headers"]["authorization"] == "Bearer [redacted]"
    assert secret not in json.dumps(log)
    keys = admin("GET", "/__sandlot/keys", query=f"tenant={tenant}").json()["keys"]
    assert len(keys) == 1 and "key_hash" not in keys[0] and secret not in json.dumps(keys)
    reset = admin("POST", "/__sandlot/reset", {"key": secret})
    assert reset.json()["tenant"] == tenant
    assert user("GET", "/customers").json()["data"][-1]["id"] == "cus_seed_grace"
    assert admin("DELETE", f"/__sandlot/keys/{keys[0]['key_id']}").status == 200
    assert user("GET", "/customers").status == 401
    # A sandbox key is not an admin token, and nobody may reset someone else's tenant.
    _, other = handler.state.issue_key()
    assert Client(handler, other.secret)("POST", "/__sandlot/keys").status == 403
    assert Client(handler, other.secret)("POST", "/__sandlot/reset", {"tenant": tenant}).status == 403
    assert Client(handler, None)("POST", "/__sandlot/reset").status == 401


def test_request_journal_is_bounded_per_tenant_and_bodies_capped(make_handler) -> None:
    handler = make_handler(journal=JournalSettings(size=3, body_bytes=10))
    tenant, key = handler.state.issue_key()
    other, other_key = handler.state.issue_key()
    user = Client(handler, key.secret)
    for i in range(5):
        user("POST", "/customers", {"email": f"long{i}@example.com"})
    Client(handler, other_key.secret)("GET", "/customers")
    handler.journal.flush()
    log = handler.journal.store.find(JournalQuery(tenant=tenant, limit=100))
    assert len(log) == 3
    assert log[0]["request"]["body"] == '{"email": ' and log[0]["request"]["truncated"]
    assert log[0]["request"]["size"] == len('{"email": "long4@example.com"}') and log[0]["request"]["json"] is None
    assert len(handler.journal.store.find(JournalQuery(tenant=other))) == 1


def test_object_quota_answers_429_naming_the_limit(make_handler) -> None:
    handler = make_handler(max_objects=2)
    _, key = handler.state.issue_key()
    user = Client(handler, key.secret)
    assert user("POST", "/customers", {"email": "1@example.com"}).status == 201
    assert user("POST", "/customers", {"email": "2@example.com"}).status == 201
    refused = user("POST", "/customers", {"email": "3@example.com"})
    assert refused.status == 429
    assert refused.json()["limit"] == "objects" and refused.json()["max"] == 2
    assert user("GET", "/customers").status == 200  # reads still work; seeds do not count


def test_requests_per_day_quota(make_handler, clock) -> None:
    handler = make_handler(requests_per_day=3)
    _, key = handler.state.issue_key()
    user = Client(handler, key.secret)
    assert [user("GET", "/customers").status for _ in range(4)] == [200, 200, 200, 429]
    refused = user("GET", "/customers")
    assert refused.json()["limit"] == "requests_per_day" and refused.header("retry-after")
    clock.now += 86400
    assert user("GET", "/customers").status == 200


def test_retention_removes_old_created_objects_but_keeps_seeds(make_handler, clock) -> None:
    handler = make_handler(retention_seconds=3600)
    _, key = handler.state.issue_key()
    user = Client(handler, key.secret)
    old = user("POST", "/customers", {"email": "old@example.com"}).json()
    clock.now += 1800
    young = user("POST", "/customers", {"email": "young@example.com"}).json()
    clock.now += 1801
    assert user("GET", f"/customers/{old['id']}").status == 404
    assert user("GET", f"/customers/{young['id']}").status == 200
    assert user("GET", "/customers/cus_seed_ada").status == 200


def test_operations_outside_collections_are_answered_statelessly(handler) -> None:
    # Validation still applies before any state is touched.
    _, key = handler.state.issue_key()
    bad = Client(handler, key.secret)("POST", "/customers", {"email": "not-an-email", "x": 1})
    assert bad.status in (400, 422)
    assert handler.state.store.count_objects(handler.state.store.list_tenants()[-1].tenant_id, "api") == 0


def test_responses_validate_against_the_spec(client: Client, engine) -> None:
    import jsonschema  # noqa: F401  (the engine's validator is used; this asserts it exists)

    cus = client("POST", "/customers", {"email": "v@example.com", "metadata": {"k": "v"}})
    charge = client("POST", "/charges", {"amount": 700, "currency": "gbp",
                                         "customer": cus.json()["id"]})
    checks = [("POST", "/customers", cus), ("POST", "/charges", charge),
              ("GET", "/customers", client("GET", "/customers")),
              ("GET", "/customers/{customer_id}", client("GET", f"/customers/{cus.json()['id']}")),
              ("DELETE", "/customers/{customer_id}", client("DELETE", f"/customers/{cus.json()['id']}"))]
    for method, template, response in checks:
        operation = engine.operation(method, template)
        schema = engine.response_schema(operation, response.status)
        validator = engine.index.validator(schema, "response")
        errors = [e.message for e in validator.iter_errors(response.json())]
        assert errors == [], f"{method} {template}: {errors}"


def test_fixtures_must_fit_the_spec(make_handler) -> None:
    from sandlot.state.fixtures import FixtureError

    with pytest.raises(FixtureError, match="collection 'invoices'"):
        make_handler(fixtures={"invoices": [{"id": "in_1"}]})
    with pytest.raises(FixtureError, match=r"at /charges/0/customer: 'cus_missing'"):
        make_handler(fixtures={"customers": [], "charges": [
            {"id": "ch_1", "customer": "cus_missing", "amount": 100, "currency": "usd"}]})


def test_admin_paths_never_reach_the_engine(handler) -> None:
    response = handler.handle(MockRequest("GET", "/__sandlot/nothing", "",
                                          {"x-sandlot-admin-token": ADMIN_TOKEN}))
    assert response.status == 404 and b"docs/stateful.md" in response.body


def test_a_reloaded_spec_is_inferred_again(engine, payments_fixtures, payments_spec_path,
                                           tmp_path) -> None:
    import re

    import yaml

    from sandlot.mock.engine import Engine
    from sandlot.state.sqlite_store import SQLiteStore

    from .conftest import stateful_pipeline

    handler = stateful_pipeline(engine, SQLiteStore(tmp_path / "r.db"), fixtures=payments_fixtures)
    _, key = handler.state.issue_key()
    user = Client(handler, key.secret)
    assert user("POST", "/customers", {"email": "a@example.com"}).json()["id"].startswith("cus_")
    document = yaml.safe_load(payments_spec_path.read_text())
    document["paths"]["/customers"]["x-sandlot-id-format"] = "uuid"
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(document))
    handler.holder.engine = Engine.from_source(str(edited))  # what the spec watcher does on a change
    created = user("POST", "/customers", {"email": "b@example.com"}).json()
    assert re.fullmatch(r"[0-9a-f-]{36}", created["id"])
    handler.close()


WRAPPED_SPEC = """
openapi: 3.0.3
info: {title: wrapped, version: "1"}
paths:
  /droplets:
    get:
      responses:
        "200":
          description: list
          content:
            application/json:
              schema:
                type: object
                required: [droplets, meta]
                properties:
                  droplets: {type: array, items: {$ref: "#/components/schemas/Droplet"}}
                  meta: {type: object, required: [total], properties: {total: {type: integer}}}
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, required: [name], properties: {name: {type: string}}}
      responses:
        "202":
          description: created
          content:
            application/json:
              schema: {$ref: "#/components/schemas/DropletResponse"}
  /droplets/{droplet_id}:
    parameters:
      - {name: droplet_id, in: path, required: true, schema: {type: integer}}
    get:
      responses:
        "200":
          description: one
          content:
            application/json:
              schema: {$ref: "#/components/schemas/DropletResponse"}
        "404": {description: none}
    delete:
      responses:
        "204": {description: gone}
        "404": {description: none}
components:
  schemas:
    DropletResponse:
      type: object
      required: [droplet]
      properties:
        droplet: {$ref: "#/components/schemas/Droplet"}
    Droplet:
      type: object
      additionalProperties: false
      required: [id, name, status, created_at]
      properties:
        id: {type: integer}
        name: {type: string}
        status: {type: string, enum: [new, active]}
        created_at: {type: string, format: date-time}
"""


def test_wrapped_single_object_responses(tmp_path, clock) -> None:
    from sandlot.mock.engine import Engine
    from sandlot.state.sqlite_store import SQLiteStore

    from .conftest import stateful_pipeline

    spec = tmp_path / "wrapped.yaml"
    spec.write_text(WRAPPED_SPEC)
    handler = stateful_pipeline(Engine.from_source(str(spec)), SQLiteStore(tmp_path / "w.db"),
                                fixtures={"droplets": [{"id": 7, "name": "seeded"}]}, clock=clock)
    collection = handler.state.model.collections["droplets"]
    assert (collection.wrapper, collection.id_field, collection.id_format.kind) == ("droplet", "id", "int")

    def call(method: str, path: str, body: object = None) -> MockRequest:
        raw = json.dumps(body).encode() if body is not None else b""
        return handler.handle(MockRequest(method, path, "", {"content-type": "application/json"}, raw))

    created = call("POST", "/droplets", {"name": "web-1"})
    assert created.status == 202
    droplet = created.json()["droplet"]
    assert droplet["id"] == 8 and droplet["name"] == "web-1" and droplet["status"] in ("new", "active")
    assert droplet["created_at"] == "2027-01-15T08:00:00.000Z"  # no example: milliseconds
    assert call("GET", "/droplets/8").json() == {"droplet": droplet}
    assert call("GET", "/droplets/7").json()["droplet"]["name"] == "seeded"
    listed = call("GET", "/droplets").json()
    assert [d["id"] for d in listed["droplets"]] == [7, 8]
    assert call("DELETE", "/droplets/8").status == 204
    assert call("GET", "/droplets/8").status == 404
    handler.close()


def test_shared_petstore_without_security_filters_by_plural_params(tmp_path) -> None:
    from pathlib import Path

    from sandlot.mock.engine import Engine
    from sandlot.state.auth import PUBLIC_TENANT
    from sandlot.state.sqlite_store import SQLiteStore

    from .conftest import stateful_pipeline

    spec = Path(__file__).resolve().parents[2] / ".." / "shared" / "specs" / "oai" / "petstore-expanded.yaml"
    if not spec.exists():
        pytest.skip(f"shared spec {spec} is absent")
    handler = stateful_pipeline(Engine.from_source(str(spec)), SQLiteStore(tmp_path / "p.db"), fixtures={})

    def call(method: str, path: str, query: str = "", body: object = None):
        raw = json.dumps(body).encode() if body is not None else b""
        return handler.handle(MockRequest(method, "/v2" + path, query, {"content-type": "application/json"}, raw))

    for name, tag in (("Rex", "dog"), ("Tom", "cat"), ("Bo", "fish")):
        assert call("POST", "/pets", body={"name": name, "tag": tag}).status == 200
    assert [p["name"] for p in call("GET", "/pets", "tags=dog&tags=cat").json()] == ["Rex", "Tom"]
    assert [p["name"] for p in call("GET", "/pets", "limit=1").json()] == ["Rex"]
    assert call("DELETE", "/pets/2").status == 204 and call("GET", "/pets/2").status == 404
    assert handler.state.store.count_objects(PUBLIC_TENANT) == 2  # no security: the shared tenant
    handler.close()

"""Collection inference on spec dicts: the example, small hand-written specs for each rule,
the `x-sandlot-*` extensions and the sidecar overrides, and the shared Twilio spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandlot.state.inference import IdFormat, InferenceError, infer_model, singularize

SHARED_SPECS = Path(__file__).resolve().parents[2] / ".." / "shared" / "specs"


def spec(paths: dict, schemas: dict | None = None) -> dict:
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": paths,
            "components": {"schemas": schemas or {}}}


def ok(schema: dict, status: str = "200") -> dict:
    return {"responses": {status: {"description": "ok",
                                   "content": {"application/json": {"schema": schema}}}}}


PET = {"type": "object", "required": ["id"], "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "tag": {"type": "string"},
    "created_at": {"type": "string", "format": "date-time"},
    "updatedAt": {"type": "string", "format": "date-time"}}}


def test_the_payments_example(payments_document: dict) -> None:
    model = infer_model(payments_document)
    assert sorted(model.collections) == ["charges", "customers", "refunds"]
    customers = model.collections["customers"]
    assert (customers.id_field, customers.id_format.kind, customers.id_format.prefix) == \
        ("id", "prefixed", "cus_")
    assert [(t.name, t.event, t.style) for t in customers.timestamps] == [("created", "created", "unix")]
    assert {k: (b.action, b.collection) for k, b in model.bindings.items()} == {
        ("POST", "/customers"): ("create", "customers"),
        ("GET", "/customers"): ("list", "customers"),
        ("GET", "/customers/{customer_id}"): ("read", "customers"),
        ("PATCH", "/customers/{customer_id}"): ("update", "customers"),
        ("DELETE", "/customers/{customer_id}"): ("delete", "customers"),
        ("POST", "/charges"): ("create", "charges"),
        ("GET", "/charges"): ("list", "charges"),
        ("GET", "/charges/{charge_id}"): ("read", "charges"),
        ("GET", "/charges/{charge_id}/refunds"): ("list", "refunds"),
        ("POST", "/refunds"): ("create", "refunds"),
        ("GET", "/refunds"): ("list", "refunds"),
        ("GET", "/refunds/{refund_id}"): ("read", "refunds"),
    }
    nested = model.bindings[("GET", "/charges/{charge_id}/refunds")]
    assert (nested.parent_param, nested.parent_collection, nested.parent_field) == \
        ("charge_id", "charges", "charge")
    listing = model.bindings[("GET", "/charges")]
    assert listing.filters == {"customer": "customer"}
    p = listing.pagination
    assert (p.shape, p.items_field, p.has_more_field, p.limit_param, p.after_param, p.max_limit) == \
        ("envelope", "data", "has_more", "limit", "starting_after", 100)


def test_array_lists_offset_paging_int_ids_and_timestamps() -> None:
    doc = spec({
        "/pets": {"get": {"parameters": [
            {"name": "limit", "in": "query", "schema": {"type": "integer"}},
            {"name": "offset", "in": "query", "schema": {"type": "integer"}},
            {"name": "tag", "in": "query", "schema": {"type": "string"}},
            {"name": "names", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}}],
            **ok({"type": "array", "items": {"$ref": "#/components/schemas/Pet"}})},
            "post": ok({"$ref": "#/components/schemas/Pet"}, "201")},
        "/pets/{petId}": {"get": ok({"$ref": "#/components/schemas/Pet"})},
    }, {"Pet": PET})
    model = infer_model(doc)
    pets = model.collections["pets"]
    assert pets.id_format == IdFormat("int")
    assert [(t.name, t.event, t.style) for t in pets.timestamps] == [
        ("created_at", "created", "iso_ms"), ("updatedAt", "updated", "iso_ms")]  # no example: milliseconds
    listing = model.bindings[("GET", "/pets")]
    assert listing.pagination.shape == "array"
    assert (listing.pagination.limit_param, listing.pagination.offset_param) == ("limit", "offset")
    assert listing.filters == {"tag": "tag", "names": "name"}
    assert model.bindings[("GET", "/pets/{petId}")].id_param == "petId"


def test_id_field_from_the_path_parameter_and_uuid_format() -> None:
    item = {"type": "object", "properties": {"order_id": {"type": "string", "format": "uuid"}}}
    doc = spec({"/orders": {"post": ok(item, "201")},
                "/orders/{order_id}": {"get": ok(item), "delete": {"responses": {"204": {"description": "gone"}}}}})
    orders = infer_model(doc).collections["orders"]
    assert (orders.id_field, orders.id_format.kind) == ("order_id", "uuid")


def test_actions_and_post_only_paths_are_not_collections() -> None:
    charge = {"type": "object", "properties": {"id": {"type": "string"}}}
    doc = spec({"/tokens": {"post": ok(charge)},
                "/charges": {"get": ok({"type": "array", "items": charge}), "post": ok(charge)},
                "/charges/{id}/capture": {"post": ok(charge)}})
    model = infer_model(doc)
    assert list(model.collections) == ["charges"]
    assert model.binding("POST", "/charges/{id}/capture") is None
    assert model.binding("POST", "/tokens") is None


def test_extensions_override_the_inference() -> None:
    item = {"type": "object", "properties": {"key": {"type": "string"}, "id": {"type": "integer"}}}
    doc = spec({"/v2/thing-list": {"x-sandlot-collection": "things", "get": ok({"type": "array", "items": item}),
                                   "post": ok(item)},
                "/v2/thing-list/{key}": {"x-sandlot-id-field": "key", "x-sandlot-id-format": "prefix:thg_",
                                         "get": ok(item)}})
    model = infer_model(doc)
    things = model.collections["things"]
    assert (things.id_field, things.id_format) == ("key", IdFormat("prefixed", "thg_"))


def test_sidecar_overrides_and_their_errors() -> None:
    item = {"type": "object", "properties": {"id": {"type": "string"}}}
    doc = spec({"/a": {"get": ok({"type": "array", "items": item}), "post": ok(item)},
                "/a/{id}": {"get": ok(item)}, "/b": {"get": ok({"type": "array", "items": item}),
                                                    "post": ok(item)}})
    model = infer_model(doc, {"collections": {"a": {"idFormat": "uuid"}},
                              "paths": {"/a": {"x-sandlot-collection": "a"}}, "ignore": ["/b"]})
    assert model.collections["a"].id_format.kind == "uuid" and "b" not in model.collections
    with pytest.raises(InferenceError, match="path '/nope'"):
        infer_model(doc, {"paths": {"/nope": {}}})
    with pytest.raises(InferenceError, match="prefix:<prefix>"):
        IdFormat.parse("snowflake")


def test_cursor_envelopes_and_page_params() -> None:
    item = {"type": "object", "properties": {"id": {"type": "string", "example": "evt_123456789"}}}
    envelope = {"type": "object", "properties": {"items": {"type": "array", "items": item},
                                                 "next_cursor": {"type": ["string", "null"]},
                                                 "total_count": {"type": "integer"}}}
    doc = spec({"/events": {"get": {"parameters": [
        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
        {"name": "page_size", "in": "query", "schema": {"type": "integer", "default": 25}}],
        **ok(envelope)}, "post": ok(item)}})
    model = infer_model(doc)
    p = model.bindings[("GET", "/events")].pagination
    assert (p.shape, p.items_field, p.next_field, p.total_field, p.cursor_param, p.limit_param,
            p.default_limit) == ("envelope", "items", "next_cursor", "total_count", "cursor", "page_size", 25)
    assert model.collections["events"].id_format.prefix == "evt_"


@pytest.mark.parametrize("plural,single", [("customers", "customer"), ("categories", "category"),
                                           ("addresses", "address"), ("boxes", "box"), ("status", "status")])
def test_singularize(plural: str, single: str) -> None:
    assert singularize(plural) == single


def test_twilio_format_suffixes_and_nested_accounts() -> None:
    path = SHARED_SPECS / "twilio" / "twilio_api_v2010.json"
    if not path.exists():
        pytest.skip(f"shared spec {path} is absent")
    from sandlot.openapi.loader import load_spec

    model = infer_model(load_spec(str(path)).document)
    calls = model.collections["Calls"]
    assert calls.id_field == "sid" and calls.id_format.kind == "pattern"
    read = model.bindings[("GET", "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json")]
    assert (read.action, read.parent_field) == ("read", "account_sid")

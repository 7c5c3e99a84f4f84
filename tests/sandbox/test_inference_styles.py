"""Inference of issue 16's patterns on small specs, tested on the exact model: keyed envelopes,
identity issued by the API (token property or Set-Cookie), natural keys, toggles, transitions,
counters of children, newest-first lists."""

from __future__ import annotations

from sandlot.state.inference import HIDDEN_PARENT, Identity, Toggle, infer_model


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _obj(**props: dict) -> dict:
    return {"type": "object", "properties": props}


STR = {"type": "string"}
ORDER = _obj(id=STR, status={"type": "string", "enum": ["placed", "paid", "cancelled"]},
             itemCount={"type": "integer"}, placedAt={"type": "string", "format": "date-time"})
ITEM = _obj(id=STR, isbn=STR)
AUTH = _obj(accessToken=STR, account=_obj(id=STR, email=STR, fullName=STR))
SHOP = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {
    "/auth/signup": {"post": {"requestBody": _json(_obj(email=STR, password=STR, fullName=STR)),
                              "responses": {"201": {"description": "ok", **_json(AUTH)}}}},
    "/auth/login": {"post": {"requestBody": _json(_obj(email=STR, password=STR)),
                             "responses": {"200": {"description": "ok", **_json(AUTH)}}}},
    "/accounts/me": {"get": {"responses": {"200": {"description": "ok", **_json(AUTH["properties"]["account"])}}}},
    "/orders": {"get": {"summary": "List orders, newest first", "responses": {"200": {"description": "ok", **_json(
                    {"type": "array", "items": ORDER})}}},
                "post": {"requestBody": _json(_obj(note=STR)), "responses": {"201": {"description": "ok", **_json(ORDER)}}}},
    "/orders/{orderId}": {"get": {"parameters": [{"name": "orderId", "in": "path", "required": True, "schema": STR}],
                                  "responses": {"200": {"description": "ok", **_json(ORDER)}}}},
    "/orders/{orderId}/cancel": {"post": {"responses": {"200": {"description": "ok", **_json(ORDER)}}}},
    "/orders/{orderId}/pin": {"put": {"responses": {"200": {"description": "ok", **_json(ORDER)}}},
                              "delete": {"responses": {"200": {"description": "ok", **_json(ORDER)}}}},
    "/orders/{orderId}/items": {"post": {"requestBody": _json(ITEM), "responses": {"201": {"description": "ok", **_json(ITEM)}}},
                                "get": {"responses": {"200": {"description": "ok", **_json({"type": "array", "items": ITEM})}}}},
}}


def test_identity_beside_the_token_and_a_users_collection_named_by_the_current_user_path() -> None:
    model = infer_model(SHOP)
    assert model.identity == Identity(users="accounts", identifiers=("email",), password="password",
                                      token_field="accessToken", token_in_user=False, cookie=None,
                                      user_field="account")
    assert {k: b.action for k, b in model.bindings.items() if b.collection == "accounts"} == {
        ("POST", "/auth/signup"): "signup", ("POST", "/auth/login"): "login", ("GET", "/accounts/me"): "me_read"}


def test_transitions_toggles_counters_and_order() -> None:
    model = infer_model(SHOP)
    assert model.bindings[("POST", "/orders/{orderId}/cancel")].transition == ("status", "cancelled")
    assert model.bindings[("PUT", "/orders/{orderId}/pin")].action == "toggle_on"
    assert model.bindings[("DELETE", "/orders/{orderId}/pin")].action == "toggle_off"
    orders = model.collections["orders"]
    assert orders.toggles == (Toggle("pin", None, None),)
    assert orders.child_counters == (("itemCount", "items", HIDDEN_PARENT),)
    assert model.bindings[("GET", "/orders")].newest_first is True
    assert model.bindings[("POST", "/orders/{orderId}/items")].parent_field == HIDDEN_PARENT


def test_a_set_cookie_log_in_issues_a_cookie() -> None:
    user = _obj(id=STR, email=STR)
    spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/session": {
        "post": {"requestBody": _json(_obj(email=STR, password=STR)), "responses": {"201": {
            "description": "ok", "headers": {"Set-Cookie": {"schema": {"type": "string", "example": "sid=abc; Path=/"}}},
            **_json(user)}}},
        "delete": {"responses": {"204": {"description": "out"}}}}}}
    model = infer_model(spec)
    assert model.identity is not None and model.identity.cookie == "sid" and model.identity.token_field is None
    assert model.bindings[("DELETE", "/session")].action == "logout"

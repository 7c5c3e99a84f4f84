"""Inference of issue 16's patterns on small specs, tested on the exact model: keyed envelopes,
identity issued by the API (token property or Set-Cookie), natural keys, toggles, transitions,
counters of children, newest-first lists, JSON:API resources (stored flat, read at the top),
HAL objects and `_embedded` lists."""

from __future__ import annotations

import pytest

from sandlot.state.envelopes import Hal, JsonApi, Relationship, flatten_resource, to_resource
from sandlot.state.inference import HIDDEN_PARENT, Identity, Toggle, _newest_first, infer_model


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


def _jsonapi(kind: str, attributes: dict, relationships: dict | None = None) -> dict:
    resource = {"type": "object", "properties": {"type": {"type": "string", "enum": [kind]}, "id": STR,
                                                 "attributes": _obj(**attributes),
                                                 "links": _obj(self=STR)}}
    if relationships:
        resource["properties"]["relationships"] = _obj(**{
            name: _obj(data=_obj(type={"type": "string", "enum": [target]}, id=STR))
            for name, target in relationships.items()})
    return _obj(data=resource, links=_obj(self=STR))


NOTE = _jsonapi("notes", {"body": STR, "state": {"type": "string", "enum": ["draft", "archived"], "readOnly": True}},
                {"folder": "folders", "author": "people"})
NOTES = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {
    "/folders/{folderId}/notes": {
        "post": {"requestBody": _json(_obj(data=_obj(type=STR, attributes=_obj(body=STR)))),
                 "responses": {"201": {"description": "ok", **_json(NOTE)}}},
        "get": {"parameters": [{"name": "filter[author]", "in": "query", "schema": STR},
                               {"name": "page[size]", "in": "query", "schema": {"type": "integer"}},
                               {"name": "page[number]", "in": "query", "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "ok", **_json(_obj(data={"type": "array", "items": NOTE}))}}}},
    "/notes/{noteId}": {"get": {"responses": {"200": {"description": "ok", **_json(NOTE)}}},
                        "delete": {"responses": {"204": {"description": "gone"}}}},
    "/notes/{noteId}/archive": {"post": {"responses": {"200": {"description": "ok", **_json(NOTE)}}}},
    "/folders": {"post": {"responses": {"201": {"description": "ok", **_json(_jsonapi("folders", {"name": STR}))}}},
                 "get": {"responses": {"200": {"description": "ok", **_json(_obj(data={"type": "array", "items": (
                     _jsonapi("folders", {"name": STR})["properties"]["data"])}))}}}},
}}


def test_jsonapi_resources_are_stored_flat_and_read_at_the_top() -> None:
    model = infer_model(NOTES)
    notes = model.collections["notes"]
    assert notes.jsonapi == JsonApi("notes", ("body", "state"), (Relationship("folder", False, "folders"),
                                                                  Relationship("author", False, "people")), True)
    assert set(notes.properties) == {"id", "body", "state", "folder", "author"}
    assert notes.properties["folder"] == {"type": "string"} and notes.writable == frozenset({"body"})
    assert notes.server.values == {"state": "draft"}  # a server-only state starts at its first value
    create = model.bindings[("POST", "/folders/{folderId}/notes")]
    assert (create.parent_collection, create.parent_field) == ("folders", "folder")
    listing = model.bindings[("GET", "/folders/{folderId}/notes")]
    assert listing.filters == {"filter[author]": "author"}
    assert (listing.pagination.limit_param, listing.pagination.page_param) == ("page[size]", "page[number]")
    # Listed and created under the folder, read and deleted at the top; `archive` names a state.
    assert model.bindings[("GET", "/notes/{noteId}")].action == "read"
    assert model.bindings[("DELETE", "/notes/{noteId}")].id_param == "noteId"
    assert model.bindings[("POST", "/notes/{noteId}/archive")].transition == ("state", "archived")
    assert notes.server.item_paths == (("/notes/{noteId}", "noteId"),)


def test_jsonapi_documents_flatten_and_wrap_again() -> None:
    api = JsonApi("notes", ("body",), (Relationship("folder", False, "folders"), Relationship("tags", True)), True)
    sent = {"data": {"type": "notes", "attributes": {"body": "hi"},
                     "relationships": {"folder": {"data": {"type": "folders", "id": "f1"}},
                                       "tags": {"data": [{"type": "tags", "id": "t1"}]}}}}
    assert flatten_resource(sent, api) == {"body": "hi", "folder": "f1", "tags": ["t1"]}
    assert flatten_resource({"name": "plain"}, api) == {"name": "plain"}
    resource = to_resource({"id": "n1", "body": "hi", "folder": "f1", "tags": []}, api, "id", {"meta": {"x": 1}},
                           "http://h/notes/n1", lambda rel: rel.type or rel.name)
    assert resource == {"meta": {"x": 1}, "type": "notes", "id": "n1", "attributes": {"body": "hi"},
                        "relationships": {"folder": {"data": {"type": "folders", "id": "f1"}},
                                          "tags": {"data": []}},
                        "links": {"self": "http://h/notes/n1"}}


LINK = _obj(href={"type": "string", "format": "uri"})
BOOK = _obj(isbn=STR, title=STR, _links=_obj(self=LINK))
LINE = _obj(id={"type": "integer"}, isbn=STR, quantity={"type": "integer", "default": 1},
            _links=_obj(self=LINK, book=LINK))
BASKET = _obj(id=STR, itemCount={"type": "integer"}, _links=_obj(self=LINK, items=LINK),
              _embedded=_obj(items={"type": "array", "items": LINE}))
SHOP_HAL = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {
    "/accounts": {"post": {"requestBody": _json(_obj(email=STR, password=STR)),
                           "responses": {"201": {"description": "ok", **_json(_obj(id=STR, email=STR,
                                                                                     _links=_obj(self=LINK)))}}}},
    "/auth/token": {"post": {"requestBody": _json(_obj(email=STR, password=STR)),
                             "responses": {"200": {"description": "ok", **_json(_obj(access_token=STR))}}}},
    "/books": {"post": {"requestBody": _json(_obj(isbn=STR, title=STR)),
                        "responses": {"201": {"description": "ok", **_json(BOOK)}}},
               "get": {"parameters": [{"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                                      {"name": "size", "in": "query", "schema": {"type": "integer"}}],
                       "responses": {"200": {"description": "ok", **_json(_obj(
                           _embedded=_obj(books={"type": "array", "items": BOOK}), _links=_obj(self=LINK)))}}}},
    "/books/{isbn}": {"get": {"responses": {"200": {"description": "ok", **_json(BOOK)}}}},
    "/baskets": {"post": {"responses": {"201": {"description": "ok", **_json(BASKET)}}}},
    "/baskets/{basketId}": {"get": {"responses": {"200": {"description": "ok", **_json(BASKET)}}}},
    "/baskets/{basketId}/items": {"post": {"requestBody": _json(_obj(isbn=STR, quantity={"type": "integer"})),
                                           "responses": {"201": {"description": "ok", **_json(LINE)}}}},
    "/baskets/{basketId}/items/{itemId}": {"delete": {"responses": {"204": {"description": "gone"}}}},
}}


def test_hal_objects_lists_and_a_sign_up_that_issues_no_token() -> None:
    model = infer_model(SHOP_HAL)
    books = model.collections["books"]
    assert books.hal == Hal(("self",), (), True) and set(books.properties) == {"isbn", "title"}
    assert books.natural and books.id_field == "isbn"
    baskets = model.collections["baskets"]
    assert baskets.hal == Hal(("self", "items"), ("items",), True)
    assert baskets.child_counters == (("itemCount", "items", HIDDEN_PARENT),)
    listing = model.bindings[("GET", "/books")].pagination
    assert (listing.items_in, listing.items_field, listing.page_base, listing.limit_param) == \
        ("_embedded", "books", 0, "size")
    # A line has no GET of its own: it lives where it is deleted.
    assert model.collections["items"].server.item_paths == (("/baskets/{basketId}/items/{itemId}", "itemId"),)
    # The account is opened without a token; the token endpoint logs in.
    assert model.identity == Identity(users="accounts", identifiers=("email",), password="password",
                                      token_field="access_token")
    assert model.bindings[("POST", "/accounts")].action == "signup"
    assert model.bindings[("POST", "/auth/token")].action == "login"


@pytest.mark.parametrize(("text", "newest"), [
    ("List orders, newest first", True),
    ("Get most recent articles globally. Use query parameters to filter results", True),  # RealWorld
    ("The latest invoices first", True),
    ("Stripe: with the most recent charges appearing first", True),
    ("By default, the latest results are shown", False),
    ("Buckets; see https://docs.ceph.com/en/latest/radosgw/ for more", False),
    ("Messages in reverse chronological order", True),
    ("Most recently created projects come first", True),
    ("List orders", False),
    ("Orders, oldest first", False),
])
def test_a_list_says_newest_first_in_its_own_words(text: str, newest: bool) -> None:
    assert _newest_first({"description": text}) is newest


def _get(schema: dict, *params: str) -> dict:
    return {"get": {"parameters": [{"name": p, "in": "path", "required": True, "schema": STR} for p in params],
                    "responses": {"200": {"description": "ok", **_json(schema)}}}}


TAGS = {"type": "array", "items": STR}
POST = _obj(slug=STR, title=STR, tagList=TAGS, genres=TAGS, author=_obj(username=STR, image=STR))
BLOG = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {
    "/users": {"post": {"requestBody": _json(_obj(user=_obj(username=STR, email=STR, password=STR))),
                        "responses": {"201": {"description": "ok", **_json(_obj(user=_obj(
                            username=STR, email=STR, image=STR, token=STR)))}}}},
    "/posts": {"get": {"parameters": [{"name": "tag", "in": "query", "schema": STR}],
                       "responses": {"200": {"description": "ok", **_json(_obj(posts={"type": "array", "items": POST}))}}},
               "post": {"requestBody": _json(_obj(post=POST)), "responses": {"201": {"description": "ok", **_json(
                   _obj(post=POST))}}}},
    "/posts/{slug}": _get(_obj(post=POST), "slug"),
    "/posts/{slug}/tags": _get(_obj(tags=TAGS), "slug"),  # a parent's own values: not the tenant's
    "/posts/genres": _get(_obj(genres=TAGS)),  # a catalogue under the collection
    "/genres": _get(_obj(genres=TAGS)),  # the list does not filter on genres: a catalogue
    "/tags": _get(_obj(tags=TAGS)),
    "/orgs/{username}": _get(_obj(username=STR, image=STR), "username"),  # no per-caller flag: no view
    "/profiles/{username}": _get(_obj(profile=_obj(username=STR, image=STR, blocking={"type": "boolean"})),
                                 "username"),
    "/profiles/{username}/block": {"post": _get(_obj(profile=_obj(username=STR)))["get"]},
}}


def test_views_and_values_only_where_the_spec_shows_them() -> None:
    bindings = infer_model(BLOG).bindings
    assert bindings[("GET", "/tags")].action == "values" and bindings[("GET", "/tags")].values_of == "tagList"
    for template in ("/posts/{slug}/tags", "/posts/genres", "/genres", "/orgs/{username}"):
        assert ("GET", template) not in bindings, template
    assert bindings[("GET", "/profiles/{username}")].action == "view_read"
    assert bindings[("POST", "/profiles/{username}/block")].action == "view_toggle_on"
    assert not any(b.feed for b in bindings.values())  # blocking someone feeds nothing

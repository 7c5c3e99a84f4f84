"""What the server fills into an object (state/serverside.py), on exact outputs: defaults
from the schema and its description, enum values from examples, self links and link maps on
this server's paths, the caller's account, per-parent sequences."""

from __future__ import annotations

from sandlot.state.serverside import (
    LinkMap,
    ServerFields,
    children_of,
    fill_template,
    infer_server_fields,
    object_links,
    param_values,
    said_default,
    server_values,
)

STATE = {"type": "string", "enum": ["inactive", "active", "closed"], "nullable": True,
         "description": "Current state of this conversation. Can be either `inactive`, `active` or `closed` "
                        "and defaults to `active`"}
CONVERSATION = {
    "sid": {"type": "string", "pattern": "^CH[0-9a-fA-F]{32}$"},
    "account_sid": {"type": "string", "pattern": "^AC[0-9a-fA-F]{32}$", "nullable": True},
    "friendly_name": {"type": "string", "nullable": True},
    "state": STATE,
    "url": {"type": "string", "format": "uri", "nullable": True},
    "links": {"type": "object", "format": "uri-map", "nullable": True},
}
MESSAGE = {
    "sid": {"type": "string"}, "index": {"type": "integer", "default": 0},
    "author": {"type": "string", "nullable": True, "description": "The author. Defaults to `system`."},
    "uri": {"type": "string"}, "direction": {"type": "string", "enum": ["inbound", "outbound-api"]},
}


def test_said_defaults_are_values_of_the_property() -> None:
    assert said_default(STATE) == "active"
    assert said_default(MESSAGE["author"]) == "system"
    assert said_default({"type": "string", "description": "Defaults to the account's own name."}) is None
    assert said_default({"type": "boolean", "description": "Whether to retry. Defaults to `false`."}) is False
    assert said_default({"type": "integer", "description": "Default value is `20`."}) == 20
    assert said_default({"type": "string", "enum": ["a", "b"], "description": "defaults to c"}) is None


def test_server_values_take_defaults_descriptions_then_the_examples_enum_member() -> None:
    assert server_values(MESSAGE, [{"direction": "outbound-api"}]) == {
        "index": 0, "author": "system", "direction": "outbound-api"}
    assert server_values({"kind": {"type": "string", "enum": ["x", "y"], "example": "y"}}, []) == {"kind": "y"}
    assert server_values({"kind": {"type": "string", "enum": ["x", "y"]}}, [{"kind": "z"}]) == {}


def test_server_fields_of_a_conversation_and_a_message() -> None:
    fields = infer_server_fields(CONVERSATION, {"friendly_name", "state"}, "sid", [])
    assert fields == ServerFields(values={"state": "active"}, self_link=("url", True),
                                  link_maps=(LinkMap("links", True),), accounts=("account_sid",))
    message = infer_server_fields(MESSAGE, {"author"}, "sid", [])
    assert (message.self_link, message.sequence) == (("uri", False), ("index", 0))
    # What the client sends is never the server's: a webhook's `url` is the client's.
    assert infer_server_fields({"url": {"type": "string"}}, {"url"}, "id", []).self_link is None
    assert infer_server_fields({"number": {"type": "integer"}, "position": {"type": "integer", "minimum": 1}},
                               set(), "number", []).sequence == ("position", 1)


def test_links_are_built_from_the_item_path_and_its_sub_paths() -> None:
    templates = ["/v1/Conversations", "/v1/Conversations/{Sid}", "/v1/Conversations/{ConversationSid}/Messages",
                 "/v1/Conversations/{ConversationSid}/Messages/{Sid}", "/v1/Conversations/{ConversationSid}/Participants",
                 "/v1/Conversations/{ConversationSid}/Messages/{MessageSid}/Receipts"]
    assert children_of("/v1/Conversations/{Sid}", templates) == [("messages", "/Messages"),
                                                                ("participants", "/Participants")]
    assert children_of("/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json",
                       ["/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media.json"]) == [
        ("media", "/Media.json")]
    assert fill_template("/v1/Things/{Sid}", {"Sid": "a b/c"}) == "/v1/Things/a%20b%2Fc"
    assert fill_template("/v1/Things/{Sid}", {}) is None
    assert param_values("/a/{AccountSid}/m/{workspaceId}/x/{Sid}", "X1", "Sid",
                        {"account_sid": "AC1", "workspace": "w1"}, {}) == {
        "Sid": "X1", "AccountSid": "AC1", "workspaceId": "w1"}
    assert param_values("/p/{slug}/issues/{number}", 2, "number", {}, {"slug": "core"}) == {
        "number": 2, "slug": "core"}

    server = ServerFields(self_link=("url", True), link_maps=(LinkMap("links", True, (("messages", "/Messages"),)),),
                          item_paths=(("/v1/Conversations/{Sid}", "Sid"),))
    assert object_links(server, "CH1", {}, {}, "", "http://127.0.0.1:9") == {
        "url": "http://127.0.0.1:9/v1/Conversations/CH1",
        "links": {"messages": "http://127.0.0.1:9/v1/Conversations/CH1/Messages"}}
    relative = ServerFields(self_link=("uri", False), link_maps=(LinkMap("subresource_uris", False, (
        ("media", "/Media.json"),)),), item_paths=(("/Accounts/{AccountSid}/Messages/{Sid}.json", "Sid"),))
    assert object_links(relative, "SM1", {"account_sid": "AC1"}, {}, "/2010-04-01", "http://h") == {
        "uri": "/2010-04-01/Accounts/AC1/Messages/SM1.json",
        "subresource_uris": {"media": "/2010-04-01/Accounts/AC1/Messages/SM1/Media.json"}}

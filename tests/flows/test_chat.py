"""Murmur (specs/chat.yaml), a JSON:API chat service: documents with `data`, `attributes` and
`relationships` in and out, a cookie session from `POST /users` and `POST /session` (documented
with `Set-Cookie`), workspaces that own channels that hold messages that collect reactions,
channels and messages read at the top (`/channels/{id}`) though listed under their parent,
per-channel message indexes from 0, an archive transition, filters in the `filter[...]`
family and `page[...]` paging. Every answer is checked against the spec's own schema."""

from __future__ import annotations

import httpx

from tests.flows.conftest import SPECS, explain, valid

SPEC = SPECS / "chat.yaml"
JSONAPI = "application/vnd.api+json"


def _client(root: str, headers: dict | None = None) -> httpx.Client:
    return httpx.Client(base_url=root + "/v2", timeout=10,
                        headers={"content-type": JSONAPI, "accept": JSONAPI, **(headers or {})})


def _doc(kind: str, attributes: dict, **extra: object) -> dict:
    return {"data": {"type": kind, "attributes": attributes, **extra}}


def _signup(root: str, email: str, name: str, headers: dict | None = None) -> tuple[httpx.Client, dict]:
    """Create an account; return a client holding its session cookie, and the user resource."""
    client = _client(root, headers)
    made = client.post("/users", json=_doc("users", {"email": email, "password": "correct horse",
                                                     "displayName": name}))
    assert made.status_code == 201, made.text
    assert "murmur_session" in client.cookies  # set by the answer, as documented
    return client, valid(SPEC, made)["data"]


def test_chat_flow(stateful) -> None:  # type: ignore[no-untyped-def]
    root, other_key = stateful(SPEC)
    ada_api, ada = _signup(root, "ada@example.com", "Ada")
    assert ada["type"] == "users" and ada["attributes"] == {
        "email": "ada@example.com", "displayName": "Ada", "avatarUrl": None, "timezone": "UTC",
        "createdAt": ada["attributes"]["createdAt"]}
    assert "password" not in ada["attributes"]
    bob_api, bob = _signup(root, "bob@example.com", "Bob")

    # Identity errors: the spec's JSON:API error documents, with the real reason.
    anonymous = _client(root)
    taken = anonymous.post("/users", json=_doc("users", {"email": "ada@example.com", "password": "12345678",
                                                         "displayName": "Imposter"}))
    assert taken.status_code == 409
    assert [(e["status"], e["title"], e["detail"]) for e in valid(SPEC, taken)["errors"]] == [
        ("409", "Conflict", "email has already been taken")]
    wrong = anonymous.post("/session", json=_doc("sessions", {"email": "ada@example.com", "password": "nope"}))
    assert wrong.status_code == 401
    assert valid(SPEC, wrong)["errors"][0]["detail"] == "email or password is invalid"
    assert anonymous.get("/me").status_code == 401
    logged = anonymous.post("/session", json=_doc("sessions", {"email": "ada@example.com", "password": "correct horse"}))
    assert logged.status_code == 201 and valid(SPEC, logged)["data"]["id"] == ada["id"]
    me = anonymous.get("/me")  # the cookie the log-in set
    assert me.status_code == 200 and valid(SPEC, me)["data"]["attributes"]["displayName"] == "Ada"
    renamed = ada_api.patch("/me", json=_doc("users", {"displayName": "Ada L."}))
    assert renamed.status_code == 200 and valid(SPEC, renamed)["data"]["attributes"]["displayName"] == "Ada L."

    # A workspace: what was sent comes back, in a whole resource, owned by the caller.
    made = ada_api.post("/workspaces", json=_doc("workspaces", {"name": "Acme"}))
    assert made.status_code == 201, made.text
    workspace = valid(SPEC, made)["data"]
    wid = workspace["id"]
    assert workspace["attributes"] == {"name": "Acme", "description": None, "channelCount": 0,
                                       "createdAt": workspace["attributes"]["createdAt"],
                                       "updatedAt": workspace["attributes"]["createdAt"]}
    assert workspace["relationships"] == {"owner": {"data": {"type": "users", "id": ada["id"]}}}
    assert workspace["links"] == {"self": f"{root}/v2/workspaces/{wid}"}
    assert made.json()["links"]["self"] == f"{root}/v2/workspaces/{wid}"

    # Channels: created under the workspace, read at the top; defaults and state from the schema.
    general = valid(SPEC, ada_api.post(f"/workspaces/{wid}/channels", json=_doc("channels", {"name": "general"})))["data"]
    assert general["attributes"]["private"] is False and general["attributes"]["topic"] is None
    assert general["attributes"]["state"] == "active" and general["attributes"]["messageCount"] == 0
    assert general["relationships"] == {"workspace": {"data": {"type": "workspaces", "id": wid}},
                                        "creator": {"data": {"type": "users", "id": ada["id"]}}}
    assert general["links"]["self"] == f"{root}/v2/channels/{general['id']}"
    random = valid(SPEC, bob_api.post(f"/workspaces/{wid}/channels", json=_doc(
        "channels", {"name": "random", "topic": "Anything goes", "private": True})))["data"]
    assert random["attributes"]["topic"] == "Anything goes" and random["attributes"]["private"] is True
    assert valid(SPEC, ada_api.get(f"/workspaces/{wid}"))["data"]["attributes"]["channelCount"] == 2
    first_page = valid(SPEC, ada_api.get(f"/workspaces/{wid}/channels", params={"page[size]": 1}))
    assert [c["attributes"]["name"] for c in first_page["data"]] == ["general"] and first_page["meta"]["total"] == 2
    assert first_page["links"]["next"].endswith("page%5Bsize%5D=1&page%5Bnumber%5D=2")
    second_page = valid(SPEC, ada_api.get(first_page["links"]["next"]))
    assert [c["attributes"]["name"] for c in second_page["data"]] == ["random"]
    archived = ada_api.post(f"/channels/{random['id']}/archive")
    assert archived.status_code == 200 and valid(SPEC, archived)["data"]["attributes"]["state"] == "archived"
    listed = valid(SPEC, ada_api.get(f"/workspaces/{wid}/channels", params={"filter[state]": "archived"}))
    assert [c["id"] for c in listed["data"]] == [random["id"]] and listed["meta"]["total"] == 1
    renamed_channel = ada_api.patch(f"/channels/{general['id']}", json={
        "data": {"type": "channels", "id": general["id"], "attributes": {"topic": "Company news"}}})
    assert valid(SPEC, renamed_channel)["data"]["attributes"] == {**general["attributes"], "topic": "Company news"}
    assert ada_api.get("/channels/00000000-0000-4000-8000-000000000000").status_code == 404

    # Messages: numbered per channel from 0, authored by the caller, newest first.
    cid = general["id"]
    hello = valid(SPEC, ada_api.post(f"/channels/{cid}/messages", json=_doc("messages", {"body": "Hello, team!"})))["data"]
    reply = valid(SPEC, bob_api.post(f"/channels/{cid}/messages", json=_doc("messages", {"body": "Hi Ada"})))["data"]
    elsewhere = valid(SPEC, bob_api.post(f"/channels/{random['id']}/messages", json=_doc("messages", {"body": "psst"})))
    assert (hello["attributes"]["index"], reply["attributes"]["index"], elsewhere["data"]["attributes"]["index"]) == \
        (0, 1, 0)
    assert hello["attributes"]["editedAt"] is None and hello["attributes"]["reactionCount"] == 0
    assert hello["relationships"] == {"channel": {"data": {"type": "channels", "id": cid}},
                                      "author": {"data": {"type": "users", "id": ada["id"]}}}
    history = valid(SPEC, ada_api.get(f"/channels/{cid}/messages"))
    assert [m["attributes"]["body"] for m in history["data"]] == ["Hi Ada", "Hello, team!"]
    assert history["meta"]["total"] == 2
    by_bob = valid(SPEC, ada_api.get(f"/channels/{cid}/messages", params={"filter[author]": bob["id"]}))
    assert [m["id"] for m in by_bob["data"]] == [reply["id"]]
    assert valid(SPEC, ada_api.get(f"/channels/{cid}"))["data"]["attributes"]["messageCount"] == 2

    # Only the author edits; an edit keeps the index and stamps editedAt.
    assert bob_api.patch(f"/messages/{hello['id']}", json={"data": {
        "type": "messages", "id": hello["id"], "attributes": {"body": "Hijacked"}}}).status_code == 403
    edited = ada_api.patch(f"/messages/{hello['id']}", json={"data": {
        "type": "messages", "id": hello["id"], "attributes": {"body": "Hello, everyone!"}}})
    assert edited.status_code == 200, edited.text
    edited_attributes = valid(SPEC, edited)["data"]["attributes"]
    assert (edited_attributes["body"], edited_attributes["index"]) == ("Hello, everyone!", 0)
    assert edited_attributes["editedAt"] is not None

    # Reactions: owned by who reacted; the message counts them.
    tada = bob_api.post(f"/messages/{hello['id']}/reactions", json=_doc("reactions", {"emoji": ":tada:"}))
    assert tada.status_code == 201, tada.text
    reaction = valid(SPEC, tada)["data"]
    assert reaction["relationships"] == {"message": {"data": {"type": "messages", "id": hello["id"]}},
                                         "user": {"data": {"type": "users", "id": bob["id"]}}}
    assert valid(SPEC, ada_api.get(f"/messages/{hello['id']}"))["data"]["attributes"]["reactionCount"] == 1
    assert [r["attributes"]["emoji"] for r in valid(SPEC, ada_api.get(f"/messages/{hello['id']}/reactions"))["data"]] \
        == [":tada:"]
    assert ada_api.delete(f"/messages/{hello['id']}/reactions/{reaction['id']}").status_code == 403
    assert bob_api.delete(f"/messages/{hello['id']}/reactions/{reaction['id']}").status_code == 204
    assert valid(SPEC, ada_api.get(f"/messages/{hello['id']}"))["data"]["attributes"]["reactionCount"] == 0

    # Logging out ends the session: the cookie no longer works.
    assert bob_api.delete("/session").status_code == 204
    assert bob_api.get("/me").status_code == 401

    # Only the owner deletes the workspace, and its channels and their messages go with it.
    assert anonymous.delete(f"/workspaces/{wid}").status_code == 204  # anonymous holds ada's session
    assert ada_api.get(f"/channels/{cid}").status_code == 404
    assert ada_api.get(f"/messages/{reply['id']}").status_code == 404
    assert valid(SPEC, ada_api.get("/workspaces"))["meta"]["total"] == 0

    # Another tenant (its sandbox key in Sandlot-Key) starts empty; ada's session is not valid there.
    other = {"sandlot-key": other_key}
    stranger = _client(root, other)
    stranger.cookies.update(ada_api.cookies)
    assert "murmur_session" in stranger.cookies and stranger.get("/me").status_code == 401
    carol_api, _ = _signup(root, "carol@example.com", "Carol", other)
    assert valid(SPEC, carol_api.get("/workspaces")) == {"data": [], "meta": {"total": 0},
                                                       "links": {"self": f"{root}/v2/workspaces"},
                                                       "jsonapi": {"version": "1.1"}}


def test_chat_explain() -> None:
    text = explain(SPEC)
    assert "messages: id id (uuid), JSON:API messages, owner author, in channels, counts reactions in " \
           "reactionCount, timestamps createdAt, editedAt, fills index (numbered from 0)" in text
    assert "identity: users (log in with email; token in the cookie `murmur_session`)" in text
    assert "POST /channels/{channelId}/archive transition channels: set state to 'archived'" in text
    assert "GET /channels/{channelId}/messages list messages, newest first, filters filter[author]->author" in text
    assert "GET /messages/{messageId} read messages" in text

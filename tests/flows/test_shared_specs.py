"""The flows' checks against the shared real specs where they apply (../shared/specs), over HTTP
through documented operations only: the OpenAPI Initiative's petstore-expanded (plain objects,
integer ids, a tag filter) with its explain output; Twilio's messaging and 2010 APIs and
DigitalOcean's, whose created objects must come back whole (issue 16's held-out example) and
valid against the documented response schema."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.flows.conftest import engine_of, explain, valid
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


def _documented(spec: Path, schema_name: str) -> set[str]:
    return set(engine_of(spec).spec.document["components"]["schemas"][schema_name]["properties"])


ACCOUNT = "AC" + "0123456789abcdef" * 2


def test_twilio_objects_come_back_whole(stateful) -> None:  # type: ignore[no-untyped-def]
    """Issue 16's held-out example, on the shared Twilio specs: a created resource comes back
    with every documented field (the caller's account, defaults, null where nullable, its own
    URL and its sub-resources' links on this server), not only what was sent plus an id."""
    spec = shared("twilio/twilio_messaging_v1.json")
    root, key = stateful(spec)
    api = httpx.Client(base_url=root, timeout=10, auth=(ACCOUNT, key))
    made = api.post("/v1/Services", data={"FriendlyName": "Support line"})
    assert made.status_code == 201, made.text
    service = valid(spec, made)
    assert set(service) == _documented(spec, "messaging.v1.service")  # all 24, not 5
    sid = service["sid"]
    assert service["friendly_name"] == "Support line"
    assert service["account_sid"] == ACCOUNT  # the account in the credential
    assert service["url"] == f"{root}/v1/Services/{sid}"
    assert service["links"] == {name: f"{root}/v1/Services/{sid}/{path}" for name, path in [
        ("alpha_senders", "AlphaSenders"), ("channel_senders", "ChannelSenders"),
        ("destination_alpha_senders", "DestinationAlphaSenders"), ("phone_numbers", "PhoneNumbers"),
        ("short_codes", "ShortCodes")]}
    assert (service["validity_period"], service["scan_message_content"]) == (0, "inherit")  # default, first enum
    assert service["status_callback"] is None and service["sticky_sender"] is None  # nullable: null
    assert service["date_created"] == service["date_updated"]
    assert api.get(f"/v1/Services/{sid}").json() == service

    number = api.post(f"/v1/Services/{sid}/PhoneNumbers", data={"PhoneNumberSid": "PN" + "a" * 32})
    assert number.status_code in (200, 201), number.text
    phone = valid(spec, number)
    assert (phone["account_sid"], phone["service_sid"]) == (ACCOUNT, sid)
    assert phone["url"] == f"{root}/v1/Services/{sid}/PhoneNumbers/{phone['sid']}"

    # Without an account in the credential, the tenant's own account: the same on every object.
    keyed = httpx.Client(base_url=root, timeout=10, auth=(key, ""))
    first = keyed.post("/v1/Services", data={"FriendlyName": "a"}).json()
    second = keyed.post("/v1/Services", data={"FriendlyName": "b"}).json()
    assert first["account_sid"] == second["account_sid"] != ACCOUNT
    assert re.fullmatch(r"AC[0-9a-fA-F]{32}", first["account_sid"])


def test_twilio_2010_messages_on_the_callers_account(stateful) -> None:  # type: ignore[no-untyped-def]
    spec = shared("twilio/twilio_api_v2010.json")
    root, key = stateful(spec)
    api = httpx.Client(base_url=root + "/2010-04-01", timeout=10, auth=(ACCOUNT, key))
    messages = f"/Accounts/{ACCOUNT}/Messages.json"
    sent = api.post(messages, data={"To": "+15558675310", "From": "+15017122661", "Body": "Hello"})
    assert sent.status_code == 201, sent.text  # the caller's own account exists without being created
    message = valid(spec, sent)
    assert set(message) == _documented(spec, "api.v2010.account.message")
    sid = message["sid"]
    assert (message["to"], message["from"], message["body"]) == ("+15558675310", "+15017122661", "Hello")
    assert message["account_sid"] == ACCOUNT
    assert message["uri"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json"  # relative, as Twilio's
    assert message["subresource_uris"] == {
        "feedback": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}/Feedback.json",
        "media": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}/Media.json"}
    assert (message["status"], message["direction"]) == ("sent", "outbound-api")  # as the spec's examples
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000", message["date_created"])  # RFC 2822
    assert message["error_code"] is None and message["price"] is None
    account = api.get(f"/Accounts/{ACCOUNT}.json")
    assert account.status_code == 200 and account.json()["sid"] == ACCOUNT
    assert account.json()["subresource_uris"]["messages"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    listed = api.get(messages).json()
    assert [m["sid"] for m in listed["messages"]] == [sid]
    other = "AC" + "f" * 32
    assert api.get(f"/Accounts/{other}/Messages.json").status_code == 404  # somebody else's account


def test_digitalocean_objects_come_back_whole(stateful) -> None:  # type: ignore[no-untyped-def]
    spec = shared("digitalocean/specification/DigitalOcean-public.v2.yaml")
    root, key = stateful(spec)
    api = httpx.Client(base_url=root + "/v2", timeout=10, headers={"authorization": f"Bearer {key}"})
    made = api.post("/projects", json={"name": "my-web-api", "purpose": "Service or API",
                                       "environment": "Production"})
    assert made.status_code == 201, made.text
    project = valid(spec, made)["project"]
    assert set(project) >= {"id", "owner_uuid", "owner_id", "name", "purpose", "environment", "is_default",
                            "created_at", "updated_at"}
    assert (project["name"], project["purpose"], project["environment"]) == \
        ("my-web-api", "Service or API", "Production")
    assert project["is_default"] is False and project["created_at"] == project["updated_at"]
    second = api.post("/projects", json={"name": "other", "purpose": "Website or blog"}).json()["project"]
    assert second["owner_uuid"] == project["owner_uuid"]  # the same account owns both
    read = api.get(f"/projects/{project['id']}")
    assert valid(spec, read)["project"] == project
    patched = api.patch(f"/projects/{project['id']}", json={"description": "The API"})
    assert patched.status_code == 200 and patched.json()["project"]["description"] == "The API"
    assert patched.json()["project"]["name"] == "my-web-api"
    listed = valid(spec, api.get("/projects", params={"per_page": 1}))
    assert [p["name"] for p in listed["projects"]] == ["my-web-api"] and listed["meta"]["total"] == 2
    assert listed["links"]["pages"]["next"].endswith("/v2/projects?per_page=1&page=2")
    assert api.delete(f"/projects/{second['id']}").status_code == 204
    assert api.get(f"/projects/{second['id']}").status_code == 404


def test_twilio_explain_names_what_the_server_fills() -> None:
    text = explain(shared("twilio/twilio_messaging_v1.json"))
    assert ("Services: id sid (pattern ^MG[0-9a-fA-F]{32}$), timestamps date_created, date_updated, fills "
            "account_sid (the caller's account), url (its own URL), links (alpha_senders, channel_senders, "
            "destination_alpha_senders, phone_numbers, short_codes)") in text
    text = explain(shared("twilio/twilio_api_v2010.json"))
    assert "accounts: Accounts (the caller's own account, named by the credential, always exists)" in text
    assert "uri (its own URI), subresource_uris (feedback, media)" in text

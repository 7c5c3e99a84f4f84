"""The request journal over real HTTP on 127.0.0.1: what is recorded, the filters, one entry, the
explanations of 404/400, deleting, tenants seeing only their own, the admin seeing all, secrets
never recorded, the live tail (server-sent events), replay, HAR, example and fixture snippets and
webhook resends."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import yaml

from sandlot.state.config import SandboxConfig
from sandlot.state.fixtures import parse_fixtures
from sandlot.state.journal import JournalSettings
from tests.journal.conftest import ADMIN, SHOP
from tests.scenarios.servers import Receiver, wait_deliveries

KEY = "sk_sbx_" + "k" * 43


def requests_of(client: httpx.Client, **params: object) -> list[dict]:
    response = client.get("/__sandlot/requests", params=params)
    assert response.status_code == 200, response.text
    return response.json()["requests"]


def test_every_request_is_recorded_with_its_facts(serve) -> None:
    stub = serve()
    api = stub.client(KEY, headers={"x-request-id": "abc"})
    assert api.get("/v1/customers", params={"limit": 2}).status_code == 200
    assert api.post("/v1/customers", json={"email": "ada@example.com"}).status_code == 201
    newest, first = requests_of(stub.admin())
    assert (first["method"], first["path"], first["query"], first["status"], first["operation"]) == \
        ("GET", "/v1/customers", "limit=2", 200, "listCustomers")
    assert first["tenant"].startswith("cred_") and first["duration_ms"] >= 0 and first["time"].endswith("Z")
    assert first["request"]["headers"]["x-request-id"] == "abc"
    assert first["request"]["headers"]["authorization"] == "Bearer [redacted]"
    assert first["response"]["headers"]["content-type"].startswith("application/json")
    assert first["response"]["json"]["object"] == "list" and first["explanation"] is None
    assert newest["operation"] == "createCustomer" and newest["request"]["json"] == {"email": "ada@example.com"}
    assert newest["response"]["json"]["object"] == "customer" and newest["route"] == "POST /customers"
    assert stub.admin().get(f"/__sandlot/requests/{first['id']}").json() == first
    # The admin API's own calls are not recorded.
    assert len(requests_of(stub.admin())) == 2


def test_a_404_names_the_closest_routes_and_a_400_the_failing_rule(serve) -> None:
    stub = serve()
    api = stub.client(KEY)
    assert api.get("/v1/custmers").status_code == 404
    assert api.post("/v1/charges", json={"amount": 5, "currency": "usd", "customer": "cus_1"}).status_code == 400
    refused, missing = requests_of(stub.admin())
    assert missing["explanation"] == {"summary": "no documented path matches /v1/custmers", "closest": [
        {"method": "GET", "path": "/v1/customers", "operation": "listCustomers", "distance": 0.059},
        {"method": "POST", "path": "/v1/customers", "operation": "createCustomer", "distance": 0.559},
        {"method": "GET", "path": "/v1/charges", "operation": "listCharges", "distance": 0.733}]}
    assert missing["validation_errors"] == 0 and missing["operation"] is None
    assert refused["validation_errors"] == 1
    assert refused["explanation"] == {
        "summary": "the request body does not match the operation's schema", "operation": "createCharge",
        "errors": [{"location": "body", "pointer": "/amount", "message": "5 is less than the minimum of 50",
                    "rule": "minimum: 50 at #/properties/amount"}]}


def test_filters_narrow_the_journal(serve) -> None:
    stub = serve(SHOP)
    api = stub.client(KEY)
    api.get("/v1/charges")
    api.post("/v1/charges", json={"amount": 1, "currency": "usd", "note": "find-me-please"})
    api.get("/v1/charges", headers={"Sandlot-Scenario": "rate_limited"})
    api.get("/v1/charges/ch_1")
    api.get("/v1/nothing")
    admin = stub.admin()

    def ids(**params: object) -> list[tuple[str, int]]:
        return [(e["method"] + " " + e["url"], e["status"]) for e in requests_of(admin, **params)]

    assert ids(operation="listCharges") == [("GET /v1/charges", 429), ("GET /v1/charges", 200)]
    assert ids(method="post") == [("POST /v1/charges", 400)]
    assert ids(path="/v1/charges/") == [("GET /v1/charges/ch_1", 200)]
    assert ids(status="4xx") == [("GET /v1/nothing", 404), ("GET /v1/charges", 429), ("POST /v1/charges", 400)]
    assert ids(status="404,429") == [("GET /v1/nothing", 404), ("GET /v1/charges", 429)]
    assert ids(scenario="rate_limited") == [("GET /v1/charges", 429)]
    assert ids(errors="true") == [("POST /v1/charges", 400)]
    assert ids(q="find-me") == [("POST /v1/charges", 400)]  # in a request body
    assert ids(q="rate_limit_error") == [("GET /v1/charges", 429)]  # in a response body
    assert ids(limit=2) == [("GET /v1/nothing", 404), ("GET /v1/charges/ch_1", 200)]
    assert ids(since="1h") == ids() and len(ids()) == 5
    assert ids(since="2999-01-01T00:00:00Z") == []
    bad = admin.get("/__sandlot/requests", params={"status": "teapot"})
    assert bad.status_code == 400 and "status" in bad.json()["detail"]


def test_delete_clears_the_journal(serve) -> None:
    stub = serve()
    stub.client(KEY).get("/v1/customers")
    assert stub.admin().delete("/__sandlot/requests").json() == {"tenant": None, "deleted": 1}
    assert requests_of(stub.admin()) == []


def test_a_tenant_key_sees_only_its_tenant_and_the_admin_sees_all(serve) -> None:
    stub = serve(stateful=True)
    alice_tenant, alice = stub.new_key("alice")
    bob_tenant, bob = stub.new_key("bob")
    stub.client(alice).get("/v1/customers")
    stub.client(bob).post("/v1/customers", json={"email": "bob@example.com"})
    stub.client(bob).get("/v1/customers/cus_nope")
    mine = requests_of(stub.client(alice))
    assert [(e["tenant"], e["path"]) for e in mine] == [(alice_tenant, "/v1/customers")]
    assert [e["tenant"] for e in requests_of(stub.admin())] == [bob_tenant, bob_tenant, alice_tenant]
    assert [e["status"] for e in requests_of(stub.admin(), tenant=bob_tenant)] == [404, 201]
    assert [e["status"] for e in requests_of(stub.admin(), key=alice)] == [200]
    bobs = requests_of(stub.client(bob))[0]["id"]
    assert stub.client(alice).get(f"/__sandlot/requests/{bobs}").status_code == 404
    assert stub.client(alice).get("/__sandlot/requests", params={"tenant": bob_tenant}).status_code == 403
    assert stub.client("sk_sbx_" + "x" * 43).get("/__sandlot/requests").status_code == 401
    assert stub.client(alice).delete("/__sandlot/requests").json() == {"tenant": alice_tenant, "deleted": 1}
    assert len(requests_of(stub.admin())) == 2
    # The 404 of an unknown object says which object.
    explanation = requests_of(stub.client(bob))[0]["explanation"]
    assert explanation["operation"] == "getCustomer" and explanation["errors"] == [
        {"location": "path", "pointer": "/customer_id", "message": "no such customer"}]


def test_secrets_never_land_in_the_journal(serve, tmp_path: Path) -> None:
    db = tmp_path / "secret-state.db"
    stub = serve(stateful=True, db=db)
    _, key = stub.new_key("alice")
    api = stub.client(key)
    api.get("/v1/customers", params={"api_key": "plain-secret-1", "note": f"carry {key}"},
            headers={"cookie": "session=plain-secret-2; theme=dark", "x-api-key": "plain-secret-3",
                     "x-sandlot-admin-token": ADMIN})
    api.post("/v1/customers", json={"email": "a@example.com", "password": "plain-secret-4",
                                    "metadata": {"client_secret": "plain-secret-5", "ref": key}})
    api.get("/v1/customers", headers={"authorization": "Bearer sk_live_plainsecret6"})  # refused: live key
    stub.app.pipeline.journal.flush()
    shown = stub.admin().get("/__sandlot/requests").text + \
        stub.admin().get("/__sandlot/requests", params={"format": "har"}).text
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("secret-state.db*"))
    for secret in (key, ADMIN, *(f"plain-secret-{i}" for i in range(1, 6)), "sk_live_plainsecret6"):
        assert secret not in shown, secret
        assert secret.encode() not in stored, secret
    live, created, listed = requests_of(stub.admin())
    assert listed["query"] == "api_key=[redacted]&note=carry+sk_sbx_[redacted]"
    assert listed["request"]["headers"]["cookie"] == "session=[redacted]; theme=[redacted]"
    assert listed["request"]["headers"]["x-api-key"] == "[redacted]"
    assert created["request"]["json"]["password"] == "[redacted]"
    assert created["request"]["json"]["metadata"] == {"client_secret": "[redacted]", "ref": "sk_sbx_[redacted]"}
    assert live["status"] == 401 and live["request"]["headers"]["authorization"] == "Bearer [redacted]"


def test_the_live_tail_streams_new_requests_as_server_sent_events(serve) -> None:
    stub = serve()
    api = stub.client(KEY)
    api.get("/v1/customers")  # before the stream opens: not sent again
    with stub.admin() as tail, \
            tail.stream("GET", "/__sandlot/requests/stream", params={"method": "POST"}) as stream:
        assert stream.headers["content-type"] == "text/event-stream"
        lines = stream.iter_lines()
        assert next(lines) == "retry: 1000"
        api.get("/v1/customers")  # filtered out
        api.post("/v1/customers", json={"email": "live@example.com"})
        started = time.monotonic()
        event = []
        for line in lines:
            if line == "" and event:
                break
            if line:
                event.append(line)
        assert time.monotonic() - started < 5
    assert event[1] == "event: request"
    data = json.loads(event[2].removeprefix("data: "))
    assert event[0] == f"id: {data['id']}" and data["request"]["json"] == {"email": "live@example.com"}


def test_replay_sends_the_recorded_request_again_as_its_tenant(serve) -> None:
    stub = serve(stateful=True)
    tenant, key = stub.new_key("alice")
    created = stub.client(key).post("/v1/customers", json={"email": "twice@example.com"}).json()
    original = requests_of(stub.client(key))[0]
    replayed = stub.client(key).post(f"/__sandlot/requests/{original['id']}/replay")
    assert replayed.status_code == 200
    body = replayed.json()
    assert (body["replay_of"], body["status"]) == (original["id"], 201)
    again = body["request"]
    assert (again["id"], again["replay_of"], again["tenant"]) == (body["id"], original["id"], tenant)
    assert again["response"]["json"]["email"] == "twice@example.com" and again["response"]["json"]["id"] != created["id"]
    emails = [c["email"] for c in stub.client(key).get("/v1/customers", params={"limit": 10}).json()["data"]]
    assert emails.count("twice@example.com") == 2


def test_bodies_are_capped_and_a_request_kept_in_part_is_not_replayed(serve) -> None:
    config = SandboxConfig(admin_token=ADMIN, journal=JournalSettings(body_bytes=64))
    stub = serve(stateful=True, config=config)
    _, key = stub.new_key("cap")
    sent = stub.client(key).post("/v1/customers", json={"email": "cap@example.com", "name": "n" * 200})
    assert sent.status_code == 201
    entry = requests_of(stub.client(key))[0]
    for kept, whole in ((entry["request"], sent.request.content), (entry["response"], sent.content)):
        assert len(whole) > 64
        assert (kept["size"], kept["truncated"], kept["binary"], kept["json"]) == (len(whole), True, False, None)
        assert kept["body"] == whole[:64].decode()
    refused = stub.client(key).post(f"/__sandlot/requests/{entry['id']}/replay")
    assert refused.status_code == 409 and "kept only in part" in refused.json()["detail"]
    assert len(requests_of(stub.client(key))) == 1  # nothing was sent again
    small = stub.client(key).post("/v1/customers", json={"email": "s@example.com"})
    assert requests_of(stub.client(key))[0]["request"]["truncated"] is False and small.status_code == 201


def test_a_journal_in_a_file_survives_a_restart(serve, tmp_path: Path) -> None:
    # Stateful: the journal is in the state file (--db), beside the objects.
    db = tmp_path / "kept-state.db"
    stub = serve(stateful=True, db=db)
    _, key = stub.new_key("kept")
    stub.client(key).post("/v1/customers", json={"email": "kept@example.com"})
    stub.stop()  # at once: what is still buffered is written on close
    again = serve(stateful=True, db=db)
    assert [(e["operation"], e["request"]["json"]) for e in requests_of(again.client(key))] == \
        [("createCustomer", {"email": "kept@example.com"})]
    # Stateless with --journal FILE: kept in that file instead of memory.
    journal = tmp_path / "kept.journal.db"
    stub = serve(journal=journal)
    stub.client(KEY).get("/v1/customers")
    stub.stop()
    assert journal.exists()
    again = serve(journal=journal)
    assert [(e["path"], e["status"]) for e in requests_of(again.admin())] == [("/v1/customers", 200)]


def test_har_export_and_example_and_fixture_snippets(serve) -> None:
    stub = serve(stateful=True)
    _, key = stub.new_key("alice")
    stub.client(key).post("/v1/customers", json={"email": "har@example.com"})
    entry = requests_of(stub.client(key))[0]
    har = stub.client(key).get("/__sandlot/requests", params={"format": "har"})
    assert har.headers["content-disposition"] == 'attachment; filename="sandlot-requests.har"'
    (item,) = har.json()["log"]["entries"]
    assert har.json()["log"]["version"] == "1.2"
    assert item["request"]["method"] == "POST" and item["request"]["url"] == f"{stub.url}/v1/customers"
    assert json.loads(item["request"]["postData"]["text"]) == {"email": "har@example.com"}
    assert item["response"]["status"] == 201 and {"name": "authorization", "value": "Bearer [redacted]"} in \
        item["request"]["headers"]
    example = stub.client(key).get(f"/__sandlot/requests/{entry['id']}/example").json()
    assert example["pointer"] == f"/paths/~1customers/post/responses/201/content/application~1json/examples/" \
        f"createCustomer_{entry['id']}"
    assert "har@example.com" in example["yaml"] and example["yaml"].startswith("paths:\n  /customers:\n    post:")
    fixture = stub.client(key).get(f"/__sandlot/requests/{entry['id']}/fixture").json()
    assert fixture["collection"] == "customers" and fixture["yaml"].startswith("customers:\n- ")
    (made,) = yaml.safe_load(fixture["yaml"])["customers"]  # the object as stored, ready for --fixtures
    assert made["id"].startswith("cus_") and made["email"] == "har@example.com"
    assert parse_fixtures(fixture["yaml"], "fixture.yaml")
    listed = requests_of(stub.client(key), method="GET")
    assert listed == []


def test_webhook_deliveries_show_every_attempt_and_can_be_resent(serve) -> None:
    stub = serve(SHOP)
    with Receiver(fail_first=1) as receiver:
        admin = stub.admin()
        endpoint = admin.post("/__sandlot/webhooks/endpoints", json={"url": receiver.url}).json()
        receiver.secrets.append(endpoint["secret"])
        assert admin.post("/__sandlot/webhooks/trigger", json={"event": "charge.succeeded"}).status_code == 202
        assert admin.post("/__sandlot/clock/advance", json={"by": "5s"}).status_code == 200
        done = wait_deliveries(admin, {}, lambda ds: ds and ds[0]["state"] == "delivered")
        (delivery,) = done
        assert [a["status"] for a in delivery["attempts"]] == [500, 200]
        assert all(a["signature"].startswith("t=") and ",v1=" in a["signature"] for a in delivery["attempts"])
        resent = admin.post(f"/__sandlot/webhooks/deliveries/{delivery['delivery_id']}/resend")
        assert resent.status_code == 202 and resent.json()["delivery"]["source"] == "resend"
        assert receiver.wait_for(3)[2].json() == receiver.received[1].json()
        assert admin.post("/__sandlot/webhooks/deliveries/whd_nope/resend").status_code == 404


def test_retention_by_count_and_age_per_tenant(serve) -> None:
    now = [1_800_000_000.0]
    config = SandboxConfig(admin_token=ADMIN, journal=JournalSettings(size=2, max_age=60.0))
    stub = serve(config=config, base_clock=lambda: now[0])
    for _ in range(3):
        stub.client(KEY).get("/v1/customers")
    stub.client("sk_sbx_" + "b" * 43).get("/v1/customers")
    assert [e["tenant"][:5] for e in requests_of(stub.admin())] == ["cred_"] * 3  # 2 + 1
    now[0] += 120  # older than max_age: gone with the next write
    stub.client(KEY).get("/v1/charges")
    assert [e["path"] for e in requests_of(stub.admin())] == ["/v1/charges"]


def test_no_journal_records_nothing_and_says_so(serve) -> None:
    stub = serve(journal=None)
    stub.client(KEY).get("/v1/customers")
    answer = stub.admin().get("/__sandlot/requests")
    assert answer.status_code == 404 and "--no-journal" in answer.json()["detail"]
    assert stub.admin().get("/__sandlot/whoami").json() == {"admin": True, "tenant": "public", "stateful": False,
                                                            "journal": False}


@pytest.mark.parametrize("name", ["index.html", "inspector.js", "inspector.css"])
def test_the_inspector_files_are_served_from_the_package(serve, name: str) -> None:
    stub = serve()
    answer = httpx.get(f"{stub.url}/__sandlot/ui/{name}", timeout=10)
    assert answer.status_code == 200 and answer.headers["content-security-policy"].startswith("default-src 'self'")
    assert answer.headers["content-type"].split(";")[0] in ("text/html", "text/javascript", "text/css")
    assert httpx.get(f"{stub.url}/__sandlot/ui", timeout=10).text.startswith("<!doctype html>")
    assert httpx.get(f"{stub.url}/__sandlot/ui/secrets.txt", timeout=10).status_code == 404

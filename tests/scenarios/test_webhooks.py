"""Webhooks over real HTTP: endpoints per tenant, on-demand triggers with body overrides, each
fault (duplicate, delay, out-of-order, wrong signature), retries with exponential backoff, rules,
callbacks, and the delivery log. Signatures are checked by an independent receiver
(tests/scenarios/servers.py) with its own HMAC code."""

from __future__ import annotations

import pytest

from sandlot.simulation import webhooks
from tests.scenarios.servers import Receiver, wait_deliveries

FAST_RETRIES = {"webhooks": {"retry": {"attempts": 3, "backoff": "50ms"}, "timeout": "2s"}}


def register(client, receiver: Receiver, **extra) -> dict:
    response = client.post("/__sandlot/webhooks/endpoints", json={"url": receiver.url, **extra})
    assert response.status_code == 201, response.text
    endpoint = response.json()
    receiver.secrets.append(endpoint["secret"])
    return endpoint


def test_trigger_delivers_a_signed_event_built_from_the_spec(serve_stateless) -> None:
    running = serve_stateless(config=FAST_RETRIES)
    with Receiver() as receiver, running.client() as client:
        register(client, receiver)
        triggered = client.post("/__sandlot/webhooks/trigger", json={
            "event": "charge.succeeded", "body": {"data": {"object": {"amount": 4200}}}})
        assert triggered.status_code == 202, triggered.text
        got = receiver.wait_for(1)[0]
        deliveries = wait_deliveries(client, {}, lambda ds: ds and ds[0]["state"] == "delivered")
    assert got.verified
    event = got.json()
    assert event["type"] == "charge.succeeded" and event["id"] == triggered.json()["events"][0]
    assert event["data"]["object"]["amount"] == 4200          # the override
    assert event["data"]["object"]["object"] == "charge"      # the rest from the spec's Event schema
    assert got.headers["sandlot-event-type"] == "charge.succeeded"
    assert got.headers["sandlot-delivery-attempt"] == "1"
    [delivery] = deliveries
    assert [a["status"] for a in delivery["attempts"]] == [200]
    assert "secret" not in delivery and delivery["body"] == event


def test_duplicate_delivery(serve_stateless) -> None:
    running = serve_stateless(config=FAST_RETRIES)
    with Receiver() as receiver, running.client() as client:
        register(client, receiver)
        client.post("/__sandlot/webhooks/trigger", json={"event": "charge.succeeded", "fault": "duplicate"})
        got = receiver.wait_for(2)
    assert got[0].body == got[1].body and got[0].verified and got[1].verified
    assert got[0].headers["sandlot-event-id"] == got[1].headers["sandlot-event-id"]
    assert got[0].headers["sandlot-delivery-id"] != got[1].headers["sandlot-delivery-id"]


def test_delayed_delivery_waits_for_the_clock(serve_stateless) -> None:
    running = serve_stateless(config=FAST_RETRIES)
    with Receiver() as receiver, running.client() as client:
        register(client, receiver)
        client.post("/__sandlot/webhooks/trigger", json={"event": "charge.succeeded", "fault": "delay",
                                                         "delay": "2h"})
        # A control event without delay, triggered after it, arrives first.
        client.post("/__sandlot/webhooks/trigger", json={"event": "charge.refunded"})
        assert receiver.wait_for(1)[0].json()["type"] == "charge.refunded"
        pending = client.get("/__sandlot/webhooks/deliveries").json()["deliveries"]
        assert [d["state"] for d in pending] == ["scheduled", "delivered"]
        assert client.post("/__sandlot/clock/advance", json={"by": "2h"}).status_code == 200
        got = receiver.wait_for(2)
    assert got[1].json()["type"] == "charge.succeeded" and got[1].verified


def test_out_of_order_delivery(serve_stateless) -> None:
    running = serve_stateless(config=FAST_RETRIES)
    with Receiver() as receiver, running.client() as client:
        register(client, receiver)
        response = client.post("/__sandlot/webhooks/trigger", json={
            "events": ["charge.succeeded", "charge.refunded"], "fault": "out_of_order"})
        assert response.status_code == 202
        got = receiver.wait_for(2)
        single = client.post("/__sandlot/webhooks/trigger", json={"event": "charge.succeeded",
                                                                  "fault": "out_of_order"})
    assert [g.json()["type"] for g in got] == ["charge.refunded", "charge.succeeded"]
    assert all(g.verified for g in got)
    assert single.status_code == 400 and "two or more events" in single.json()["detail"]


def test_wrong_signature_is_caught_by_the_receiver_and_retried(serve_stateless) -> None:
    running = serve_stateless(config=FAST_RETRIES)
    with Receiver() as receiver, running.client() as client:
        register(client, receiver)
        client.post("/__sandlot/webhooks/trigger", json={"event": "charge.succeeded", "fault": "bad_signature"})
        got = receiver.wait_for(3)
        deliveries = wait_deliveries(client, {}, lambda ds: ds and ds[0]["state"] == "failed")
    assert [g.verified for g in got] == [False, False, False]
    assert [a["status"] for a in deliveries[0]["attempts"]] == [400, 400, 400]
    assert deliveries[0]["faults"] == ["bad_signature"]


def test_retries_with_exponential_backoff(serve_stateless) -> None:
    running = serve_stateless(config={"webhooks": {"retry": {"attempts": 4, "backoff": "50ms"}}})
    with Receiver(fail_first=2) as receiver, running.client() as client:
        register(client, receiver)
        client.post("/__sandlot/webhooks/trigger", json={"event": "charge.succeeded"})
        got = receiver.wait_for(3)
        [delivery] = wait_deliveries(client, {}, lambda ds: ds and ds[0]["state"] == "delivered")
    attempts = delivery["attempts"]
    assert [a["status"] for a in attempts] == [500, 500, 200]
    assert [a["number"] for a in attempts] == [1, 2, 3]
    assert [g.headers["sandlot-delivery-attempt"] for g in got] == ["1", "2", "3"]
    # The retry times are scheduled exactly: attempt time + 50 ms * 2^(n-1).
    assert attempts[0]["next_attempt_at"] == pytest.approx(attempts[0]["at"] + 0.05)
    assert attempts[1]["next_attempt_at"] == pytest.approx(attempts[1]["at"] + 0.10)
    assert attempts[2]["next_attempt_at"] is None
    assert all(g.verified for g in got)


def test_unreachable_endpoint_is_logged_and_given_up(serve_stateless) -> None:
    running = serve_stateless(config={"webhooks": {"retry": {"attempts": 2, "backoff": "10ms"}}})
    with running.client() as client:
        client.post("/__sandlot/webhooks/endpoints", json={"url": "http://127.0.0.1:9/closed"})
        client.post("/__sandlot/webhooks/trigger", json={"event": "charge.succeeded"})
        [delivery] = wait_deliveries(client, {}, lambda ds: ds and ds[0]["state"] == "failed")
    assert [a["status"] for a in delivery["attempts"]] == [None, None]
    assert all("Connect" in a["error"] for a in delivery["attempts"])


def test_endpoints_are_per_tenant_and_filter_events(serve_stateless) -> None:
    running = serve_stateless(config=FAST_RETRIES)
    with Receiver() as receiver, running.client("sk_sbx_a") as a, running.client("sk_sbx_b") as b:
        register(a, receiver, events=["charge.refunded"])
        none = a.post("/__sandlot/webhooks/trigger", json={"event": "charge.succeeded"}).json()
        assert none["deliveries"] == [] and "no endpoint" in none["note"]
        assert b.get("/__sandlot/webhooks/endpoints").json()["endpoints"] == []
        a.post("/__sandlot/webhooks/trigger", json={"event": "charge.refunded"})
        assert receiver.wait_for(1)[0].json()["type"] == "charge.refunded"
        unknown = a.post("/__sandlot/webhooks/trigger", json={"event": "charge.exploded"})
        assert unknown.status_code == 404 and "charge.succeeded" in unknown.json()["detail"]
        bad_fault = a.post("/__sandlot/webhooks/trigger", json={"event": "charge.refunded", "fault": "fire"})
        assert bad_fault.status_code == 400 and "duplicate" in bad_fault.json()["detail"]
        endpoint_id = a.get("/__sandlot/webhooks/endpoints").json()["endpoints"][0]["id"]
        assert a.delete(f"/__sandlot/webhooks/endpoints/{endpoint_id}").status_code == 200
        assert a.get("/__sandlot/webhooks/endpoints").json()["endpoints"] == []
        events = {e["type"] for e in a.get("/__sandlot/webhooks/events").json()["events"]}
    assert events == {"charge.succeeded", "charge.refunded"}


def test_rule_sends_the_created_object_when_the_clock_reaches_it(serve_stateful) -> None:
    running = serve_stateful(config=FAST_RETRIES)
    key = running.new_key()
    with Receiver() as receiver, running.client(key) as client:
        register(client, receiver)
        created = client.post("/v1/charges", json={"amount": 2000, "currency": "usd"}).json()
        [scheduled] = client.get("/__sandlot/webhooks/deliveries").json()["deliveries"]
        assert scheduled["state"] == "scheduled" and scheduled["source"] == "rule"
        client.post("/__sandlot/clock/advance", json={"by": "1h"})
        got = receiver.wait_for(1)[0]
    event = got.json()
    assert got.verified and event["type"] == "charge.succeeded"
    assert event["data"]["object"] == created
    # The event's created time is the tenant's virtual time when the charge was made.
    assert event["created"] == created["created"]


def test_callback_goes_to_the_url_in_the_request(serve_stateless) -> None:
    running = serve_stateless(config=FAST_RETRIES)
    with Receiver() as receiver, running.client() as client:
        secret = client.get("/__sandlot/webhooks/endpoints").json()["callback_secret"]
        receiver.secrets.append(secret)
        response = client.post("/v1/subscriptions", json={"plan": "gold", "callback_url": receiver.url})
        assert response.status_code == 202
        got = receiver.wait_for(1)[0]
    assert got.verified
    assert got.json() == {"type": "subscription.activated", "plan": "gold"}
    assert got.headers["sandlot-event-type"] == "subscription.activated"


def test_signature_scheme_reference_values() -> None:
    """The documented scheme, with a fixed input: docs/scenarios.md shows the same numbers."""
    header = webhooks.signature_header("whsec_test", 1767225600, b'{"id":"evt_1"}')
    assert header == "t=1767225600,v1=" + webhooks.sign("whsec_test", 1767225600, b'{"id":"evt_1"}')
    assert webhooks.verify(header, "whsec_test", b'{"id":"evt_1"}', now=1767225600 + 10)
    assert not webhooks.verify(header, "whsec_other", b'{"id":"evt_1"}', now=1767225600)
    assert not webhooks.verify(header, "whsec_test", b'{"id":"evt_1"}', now=1767225600 + 3600)


def test_backoff_policy() -> None:
    policy = webhooks.RetryPolicy(attempts=6, backoff=1.0, max_backoff=10.0)
    assert [policy.delay_after(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_callback_url_expressions() -> None:
    context = {"request.body": {"hooks": {"url": "http://h/x"}}, "request.query": {"cb": "http://q"},
               "request.header": {"x-cb": "http://hd"}, "response.body": {"id": "s_1"}}
    assert webhooks.expand_expression("{$request.body#/hooks/url}", context) == "http://h/x"
    assert webhooks.expand_expression("{$request.query.cb}/done", context) == "http://q/done"
    assert webhooks.expand_expression("{$request.header.X-CB}", context) == "http://hd"
    assert webhooks.expand_expression("http://h/{$response.body#/id}", context) == "http://h/s_1"
    assert webhooks.expand_expression("{$request.body#/missing}", context) is None


def test_config_endpoints_serve_every_tenant_and_survive_reset(serve_stateless) -> None:
    with Receiver(secrets=["whsec_app"]) as receiver:
        config = {"webhooks": {"endpoints": [{"url": receiver.url, "secret": "whsec_app",
                                              "events": ["charge.*"]}]}}
        running = serve_stateless(config=config)
        with running.client("sk_sbx_x") as x, running.client("sk_sbx_y") as y:
            x.post("/__sandlot/webhooks/trigger", json={"event": "charge.succeeded"})
            y.post("/__sandlot/webhooks/trigger", json={"event": "charge.refunded"})
            got = receiver.wait_for(2)
            assert x.post("/__sandlot/reset").status_code == 200
            listed = x.get("/__sandlot/webhooks/endpoints").json()["endpoints"]
            refused = x.delete("/__sandlot/webhooks/endpoints/we_config_0")
    assert sorted(g.json()["type"] for g in got) == ["charge.refunded", "charge.succeeded"]
    assert all(g.verified for g in got)
    assert [e["id"] for e in listed] == ["we_config_0"] and listed[0]["configured"] is True
    assert refused.status_code == 404 and "config file" in refused.json()["detail"]


def test_config_endpoints_need_a_secret() -> None:
    from sandlot.simulation.stage import SimulationError, settings_from

    with pytest.raises(SimulationError, match=r"endpoints\[0\]: give url and secret"):
        settings_from({}, {"webhooks": {"endpoints": [{"url": "http://127.0.0.1:1/x"}]}})


def test_same_trigger_same_payload_twice(serve_stateless) -> None:
    """With the clock injected, two fresh stubs send the same payload (only the event id,
    unique on purpose, differs)."""
    def payload() -> dict:
        running = serve_stateless(base_clock=lambda: 1_800_000_000.0)
        with Receiver() as receiver, running.client() as client:
            register(client, receiver)
            client.post("/__sandlot/webhooks/trigger", json={"events": ["charge.succeeded", "charge.refunded"]})
            got = [g.json() for g in receiver.wait_for(2)]
        for event in got:
            assert event.pop("id").startswith("evt_")
        return got

    first = payload()
    assert first == payload()
    assert first[0]["created"] == 1_800_000_000

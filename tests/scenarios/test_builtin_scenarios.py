"""Each built-in scenario over real HTTP on 127.0.0.1, chosen by header, sticky per tenant, or
as the stub's default; the same name means the same thing on the stateless and stateful stub."""

from __future__ import annotations

import time

import httpx
import pytest

CHARGE = {"amount": 2000, "currency": "usd"}


def test_rate_limited_answers_the_specs_429_with_retry_after(serve_stateless) -> None:
    with serve_stateless().client() as client:
        response = client.post("/v1/charges", json=CHARGE,
                               headers={"Sandlot-Scenario": "rate_limited; retry_after=30"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    # The spec documents this 429 with an example: that is the body a client gets.
    assert response.json() == {"error": {"type": "rate_limit_error", "message": "Too many requests; slow down."}}
    assert response.headers["sandlot-scenario"] == "rate_limited"


@pytest.mark.parametrize(("scenario", "status"), [
    ("server_error", 500), ("unavailable", 503), ("downstream_failure", 502),
    ("downstream_failure; status=504", 504),
])
def test_status_scenarios(serve_stateless, scenario: str, status: int) -> None:
    with serve_stateless().client() as client:
        response = client.get("/v1/charges/ch_1", headers={"Sandlot-Scenario": scenario})
    assert response.status_code == status
    body = response.json()
    # getCharge documents none of these statuses: a problem body names the scenario.
    assert body["status"] == status and body["scenario"] == scenario.split(";")[0]
    if status == 503:
        assert response.headers["retry-after"] == "1"


def test_unavailable_uses_the_documented_503_where_there_is_one(serve_stateless) -> None:
    with serve_stateless().client() as client:
        response = client.post("/v1/charges", json=CHARGE, headers={"Sandlot-Scenario": "unavailable"})
    assert response.status_code == 503
    assert response.json() == {"error": {"type": "api_error", "message": "Down for scheduled maintenance."}}


def test_timeout_holds_then_closes_without_a_response(serve_stateless) -> None:
    running = serve_stateless()
    with running.client() as client:
        started = time.monotonic()
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/v1/charges/ch_1", headers={"Sandlot-Scenario": "timeout; delay=300ms"})
        assert time.monotonic() - started >= 0.3  # held at least the delay (a lower bound only)
        # The server is fine afterwards.
        assert client.get("/v1/charges/ch_1").status_code == 200


def test_timeout_past_the_clients_own_timeout(serve_stateless) -> None:
    with serve_stateless().client(timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("/v1/charges/ch_1", headers={"Sandlot-Scenario": "timeout; delay=1s"})


def test_connection_reset(serve_stateless) -> None:
    with serve_stateless().client() as client:
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)) as raised:
            client.get("/v1/charges/ch_1", headers={"Sandlot-Scenario": "connection_reset"})
        assert "reset" in repr(raised.value.__context__ or raised.value).lower() or \
            isinstance(raised.value, httpx.ReadError)
        assert client.get("/v1/charges/ch_1").status_code == 200


def test_slow_answers_normally_after_the_latency(serve_stateless) -> None:
    with serve_stateless().client() as client:
        normal = client.get("/v1/charges/ch_1")
        started = time.monotonic()
        slow = client.get("/v1/charges/ch_1", headers={"Sandlot-Scenario": "slow; latency=200ms"})
        assert time.monotonic() - started >= 0.2
        started = time.monotonic()
        header = client.get("/v1/charges/ch_1", headers={"Sandlot-Latency": "150ms"})
        assert time.monotonic() - started >= 0.15
    assert slow.status_code == header.status_code == 200
    assert slow.content == header.content == normal.content
    assert "x-sandlot-edge" not in slow.headers


def test_unknown_scenario_is_refused_with_the_known_names(serve_stateless) -> None:
    with serve_stateless().client() as client:
        response = client.get("/v1/charges/ch_1", headers={"Sandlot-Scenario": "explode"})
        bad_param = client.get("/v1/charges/ch_1", headers={"Sandlot-Scenario": "timeout; delay=soon"})
    assert response.status_code == 400
    assert "unknown scenario 'explode'" in response.json()["detail"]
    assert "rate_limited" in response.json()["detail"] and "card_declined" in response.json()["detail"]
    assert bad_param.status_code == 400 and "250ms" in bad_param.json()["detail"]


def test_sticky_scenario_is_per_tenant_and_can_be_limited_to_operations(serve_stateful) -> None:
    running = serve_stateful()
    alice, bob = running.new_key("alice"), running.new_key("bob")
    with running.client(alice) as a, running.client(bob) as b:
        set_it = a.put("/__sandlot/scenario", json={"scenario": "unavailable", "operations": ["createCharge"]})
        assert set_it.status_code == 200, set_it.text
        assert a.post("/v1/charges", json=CHARGE).status_code == 503
        assert a.get("/v1/charges").status_code == 200            # another operation
        assert b.post("/v1/charges", json=CHARGE).status_code == 201  # another tenant
        assert a.get("/__sandlot/scenario").json()["scenario"]["name"] == "unavailable"
        # A header still wins over the sticky scenario.
        assert a.post("/v1/charges", json=CHARGE, headers={"Sandlot-Scenario": "server_error"}).status_code == 500
        assert a.delete("/__sandlot/scenario").status_code == 200
        assert a.post("/v1/charges", json=CHARGE).status_code == 201
        # Reset clears a sticky scenario together with the objects.
        a.put("/__sandlot/scenario", json={"scenario": "server_error"})
        assert a.get("/v1/charges").status_code == 500
        assert a.post("/__sandlot/reset").status_code == 200
        assert a.get("/v1/charges").status_code == 200
        # Another tenant's sticky scenario cannot be set with a key.
        other = a.put("/__sandlot/scenario", json={"scenario": "server_error", "key": bob})
        assert other.status_code == 403


def test_sticky_scenario_needs_a_known_name(serve_stateful) -> None:
    running = serve_stateful()
    with running.client(running.new_key()) as client:
        response = client.put("/__sandlot/scenario", json={"scenario": "nope"})
    assert response.status_code == 400 and "unknown scenario" in response.json()["detail"]


def test_default_scenario_applies_unless_a_request_asks_for_another(serve_stateless) -> None:
    with serve_stateless(default_scenario="unavailable; retry_after=7").client() as client:
        default = client.get("/v1/charges/ch_1")
        asked = client.get("/v1/charges/ch_1", headers={"Sandlot-Scenario": "server_error"})
    assert default.status_code == 503 and default.headers["retry-after"] == "7"
    assert asked.status_code == 500


def test_one_name_means_the_same_on_stateless_and_stateful_stubs(serve_stateless, serve_stateful) -> None:
    stateful = serve_stateful()
    with serve_stateless().client() as plain, stateful.client(stateful.new_key()) as kept:
        for scenario in ("rate_limited; retry_after=5", "server_error", "unavailable", "downstream_failure"):
            one = plain.post("/v1/charges", json=CHARGE, headers={"Sandlot-Scenario": scenario})
            two = kept.post("/v1/charges", json=CHARGE, headers={"Sandlot-Scenario": scenario})
            assert (one.status_code, one.content, one.headers.get("retry-after")) == \
                (two.status_code, two.content, two.headers.get("retry-after"))


def test_scenarios_are_listed(serve_stateless) -> None:
    with serve_stateless().client() as client:
        listed = client.get("/__sandlot/scenarios").json()
    assert set(listed["builtin"]) == {"rate_limited", "timeout", "server_error", "unavailable",
                                      "downstream_failure", "connection_reset", "slow"}
    assert set(listed["named"]) == {"card_declined", "maintenance"}

"""Refusals the sandbox gives on its own say what they are: the rate limiter's 429 is a
rate-limit problem naming the limit (no scenario was chosen), a refused admin action is
titled "Forbidden"."""

from __future__ import annotations


def test_the_rate_limiters_429_names_the_limit_not_a_scenario(serve_stateless) -> None:
    running = serve_stateless(config={"rateLimit": {"requests": 1, "per": "1h", "burst": 1}})
    with running.client() as client:
        assert client.get("/v1/charges/ch_1").status_code == 200
        refused = client.get("/v1/charges/ch_1")  # getCharge documents no 429: a problem body
        documented = client.post("/v1/charges", json={"amount": 1, "currency": "usd"})
    assert refused.status_code == 429 and refused.headers["retry-after"] == "3600"
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["type"] == "https://sandlot.dev/problems/rate-limit"
    assert body["title"] == "Rate limit exceeded" and "scenario" not in body
    assert body["limit"] == {"requests": 1, "per_seconds": 3600.0, "burst": 1}
    assert "1 requests per 3600 s" in body["detail"]
    assert "sandlot-scenario" not in refused.headers
    # createCharge documents its 429: that body, still without a scenario header.
    assert documented.status_code == 429 and documented.json()["error"]["type"] == "rate_limit_error"
    assert "sandlot-scenario" not in documented.headers


def test_acting_on_another_tenant_is_forbidden(serve_stateful) -> None:
    running = serve_stateful()
    alice, bob = running.new_key("alice"), running.new_key("bob")
    with running.client(alice) as client:
        scenario = client.put("/__sandlot/scenario", json={"scenario": "server_error", "key": bob})
        reset = client.post("/__sandlot/reset", json={"key": bob})
        keys = client.get("/__sandlot/keys")
    for refused in (scenario, reset, keys):
        assert refused.status_code == 403, refused.text
        assert refused.json()["title"] == "Forbidden" and refused.json()["detail"]

"""Named scenarios (spec and config), magic values, the rate limiter and Idempotency-Key, over
real HTTP; plus the pure pieces with exact outputs (token bucket arithmetic, the magic table)."""

from __future__ import annotations

import pytest

from sandlot.simulation import magic
from sandlot.simulation.ratelimit import Bucket, Limit, RateLimiter, limit_from, take
from sandlot.simulation.stage import SimulationError, settings_from

CHARGE = {"amount": 2000, "currency": "usd"}
DECLINED = {"error": {"type": "card_error", "code": "card_declined", "message": "Your card was declined."}}


def test_named_scenario_from_the_spec_inline_body_and_operation_filter(serve_stateless) -> None:
    with serve_stateless().client() as client:
        declined = client.post("/v1/charges", json=CHARGE, headers={"Sandlot-Scenario": "card_declined"})
        other_op = client.get("/v1/charges/ch_1", headers={"Sandlot-Scenario": "card_declined"})
    assert declined.status_code == 402
    assert declined.json()["error"]["code"] == "card_declined"
    assert other_op.status_code == 200  # declared for createCharge only


def test_named_scenario_by_example_name_with_headers(serve_stateless) -> None:
    with serve_stateless().client() as client:
        response = client.post("/v1/charges", json=CHARGE, headers={"Sandlot-Scenario": "maintenance"})
    assert response.status_code == 503
    assert response.json() == {"error": {"type": "api_error", "message": "Down for scheduled maintenance."}}
    assert response.headers["retry-after"] == "120"


def test_named_scenario_from_the_config_file(serve_stateless) -> None:
    config = {"scenarios": {"fraud_review": {"status": 409, "body": {"error": {"type": "review", "message": "held"}}}}}
    with serve_stateless(config=config).client() as client:
        response = client.get("/v1/charges/ch_1", headers={"Sandlot-Scenario": "fraud_review"})
    # 409 is not documented for getCharge: the declared body is sent as JSON.
    assert response.status_code == 409 and response.json() == {"error": {"type": "review", "message": "held"}}


def test_bad_declarations_are_refused_with_the_fix() -> None:
    with pytest.raises(SimulationError, match="built-in scenario"):
        settings_from({"x-sandlot-scenarios": {"timeout": {"status": 500}}})
    with pytest.raises(SimulationError, match="status between 100 and 599"):
        settings_from({}, {"scenarios": {"x": {"body": {}}}})
    with pytest.raises(SimulationError, match="must start with one of"):
        settings_from({"x-sandlot-magic": [{"when": {"card.number": "1"}, "status": 402}]})
    with pytest.raises(SimulationError, match="unknown scenario 'nope'"):
        settings_from({}, None, default_scenario="nope")
    with pytest.raises(SimulationError, match="rateLimit.requests"):
        settings_from({}, {"rateLimit": {"requests": 0}})


def test_magic_values(serve_stateful) -> None:
    running = serve_stateful()
    with running.client(running.new_key()) as client:
        declined = client.post("/v1/charges", json={**CHARGE, "card": {"number": "4000000000000002"}})
        funds_usd = client.post("/v1/charges", json={**CHARGE, "card": {"number": "4000000000009995"}})
        funds_eur = client.post("/v1/charges", json={**CHARGE, "currency": "eur",
                                                     "card": {"number": "4000000000009995"}})
        fine = client.post("/v1/charges", json={**CHARGE, "card": {"number": "4242424242424242"}})
        invalid = client.post("/v1/charges", json={"amount": 1, "currency": "usd",
                                                   "card": {"number": "4000000000000002"}})
        listed = client.get("/v1/charges").json()["data"]
    assert declined.status_code == 402 and declined.json() == DECLINED
    assert funds_usd.status_code == 402 and funds_usd.json()["error"]["code"] == "insufficient_funds"
    assert funds_eur.status_code == 201  # every condition must hold
    assert fine.status_code == 201
    # A magic value never hides a malformed request: the spec's documented 400 (it documents no 422).
    assert invalid.status_code == 400
    assert [c["id"] for c in listed] == [funds_eur.json()["id"], fine.json()["id"]]  # declines store nothing


def test_magic_needs_a_valid_key_on_the_stateful_stub(serve_stateful) -> None:
    running = serve_stateful()
    with running.client("sk_sbx_unknown") as client:
        response = client.post("/v1/charges", json={**CHARGE, "card": {"number": "4000000000000002"}})
    assert response.status_code == 401


def test_magic_table_markdown() -> None:
    rules = magic.rules_from([
        {"operation": "createCharge", "when": {"body.card.number": "4000000000000002"}, "status": 402,
         "body": {"error": {"code": "card_declined"}}, "description": "Declined"},
        {"when": {"query.mode": "slow|x"}, "status": 503, "example": "down"},
    ], "test")
    assert magic.markdown_table(rules) == (
        "| operation | when | status | answer | meaning |\n"
        "|---|---|---:|---|---|\n"
        '| createCharge | `body.card.number` = `4000000000000002` | 402 | `{"error":{"code":"card_declined"}}` | Declined |\n'
        "| any | `query.mode` = `slow\\|x` | 503 | example `down` |  |\n")


def test_token_bucket_arithmetic() -> None:
    limit = Limit(requests=2, per=1.0, burst=3)
    first = take(None, limit, now=100.0)
    assert (first.allowed, first.remaining, first.bucket) == (True, 2, Bucket(2.0, 100.0))
    second = take(take(first.bucket, limit, 100.0).bucket, limit, 100.0)
    assert (second.allowed, second.remaining) == (True, 0)
    refused = take(second.bucket, limit, 100.0)
    assert (refused.allowed, refused.retry_after, refused.reset_seconds) == (False, 1, 2)
    assert refused.headers(limit) == [("x-ratelimit-limit", "3"), ("x-ratelimit-remaining", "0"),
                                      ("x-ratelimit-reset", "2"), ("retry-after", "1")]
    later = take(refused.bucket, limit, 100.5)  # half a second refills one token at 2/s
    assert (later.allowed, later.remaining) == (True, 0)


def test_rate_limiter_keys_and_clock() -> None:
    now = [0.0]
    limiter = RateLimiter(limit_from({"requests": 1, "per": "10s"}, "t"), clock=lambda: now[0])
    assert limiter.check("a").allowed and not limiter.check("a").allowed
    assert limiter.check("b").allowed
    assert limiter.check("a").retry_after == 10
    now[0] = 10.0
    assert limiter.check("a").allowed


def test_rate_limit_over_http(serve_stateless) -> None:
    running = serve_stateless(config={"rateLimit": {"requests": 3, "per": "1h"}})
    with running.client("sk_sbx_one") as one, running.client("sk_sbx_two") as two:
        answers = [one.post("/v1/charges", json=CHARGE) for _ in range(4)]
        other = two.post("/v1/charges", json=CHARGE)
        undocumented = one.get("/v1/charges/ch_1")
    assert [r.status_code for r in answers] == [201, 201, 201, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert all(r.headers["x-ratelimit-limit"] == "3" for r in answers)
    assert answers[3].headers["retry-after"] == "1200"  # 1 h / 3 tokens
    assert answers[3].json() == {"error": {"type": "rate_limit_error", "message": "Too many requests; slow down."}}
    assert other.status_code == 201  # each key has its own bucket
    assert undocumented.status_code == 429 and undocumented.json()["status"] == 429  # problem body


def test_idempotency_key(serve_stateful) -> None:
    running = serve_stateful()
    key = running.new_key()
    with running.client(key) as client:
        first = client.post("/v1/charges", json=CHARGE, headers={"Idempotency-Key": "k1"})
        again = client.post("/v1/charges", json=CHARGE, headers={"Idempotency-Key": "k1"})
        changed = client.post("/v1/charges", json={**CHARGE, "amount": 3000}, headers={"Idempotency-Key": "k1"})
        fresh = client.post("/v1/charges", json=CHARGE, headers={"Idempotency-Key": "k2"})
        invalid = client.post("/v1/charges", json={"amount": 1}, headers={"Idempotency-Key": "k3"})
        fixed = client.post("/v1/charges", json=CHARGE, headers={"Idempotency-Key": "k3"})
        count = len(client.get("/v1/charges").json()["data"])
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert changed.status_code == 400
    assert changed.json()["error"]["type"] == "idempotency_error"
    assert "'k1'" in changed.json()["error"]["message"]
    assert fresh.json()["id"] != first.json()["id"]
    assert invalid.status_code == 400 and fixed.status_code == 201  # a refusal is not remembered
    assert count == 3
    with running.client(running.new_key()) as other:  # keys are per tenant
        assert other.post("/v1/charges", json={**CHARGE, "amount": 3000},
                          headers={"Idempotency-Key": "k1"}).status_code == 201


def test_idempotency_replays_a_magic_decline(serve_stateful) -> None:
    running = serve_stateful()
    with running.client(running.new_key()) as client:
        body = {**CHARGE, "card": {"number": "4000000000000002"}}
        one = client.post("/v1/charges", json=body, headers={"Idempotency-Key": "d"})
        two = client.post("/v1/charges", json=body, headers={"Idempotency-Key": "d"})
    assert one.status_code == two.status_code == 402 and two.headers["idempotent-replayed"] == "true"


def test_same_requests_same_answers_twice(serve_stateless) -> None:
    """Deterministic: two fresh servers give identical answers to the same sequence."""
    def run() -> list[tuple[int, bytes]]:
        with serve_stateless(config={"rateLimit": {"requests": 2, "per": "1h"}}).client() as client:
            return [(r.status_code, r.content) for r in (
                client.post("/v1/charges", json=CHARGE, headers={"Sandlot-Scenario": "card_declined"}),
                client.post("/v1/charges", json={**CHARGE, "card": {"number": "4000000000000002"}}),
                client.post("/v1/charges", json=CHARGE))]
    assert run() == run()


def test_magic_values_from_the_config_file(serve_stateless) -> None:
    config = {"magic": [{"operation": "getCharge", "when": {"path.charge_id": "ch_gone"}, "status": 404,
                         "body": {"error": {"type": "invalid_request_error", "message": "gone"}}},
                        {"when": {"header.x-test-mode": "fraud"}, "status": 402,
                         "body": {"error": {"type": "card_error", "message": "fraud"}}}]}
    with serve_stateless(config=config).client() as client:
        gone = client.get("/v1/charges/ch_gone")
        there = client.get("/v1/charges/ch_here")
        fraud = client.post("/v1/charges", json=CHARGE, headers={"x-test-mode": "fraud"})
    assert gone.status_code == 404 and gone.json()["error"]["message"] == "gone"
    assert "sandlot-magic" in gone.headers
    assert there.status_code == 200
    assert fraud.status_code == 402 and fraud.json()["error"]["message"] == "fraud"

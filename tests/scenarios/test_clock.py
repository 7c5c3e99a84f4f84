"""The virtual clock per tenant: advancing it moves stored timestamps, expires data past the
retention, fires scheduled webhooks (test_webhooks.py), and a reset returns it to the start."""

from __future__ import annotations

import pytest

from sandlot.simulation.clock import VirtualClock
from sandlot.simulation.stage import MemoryState
from sandlot.util.durations import DurationError, parse_duration

CHARGE = {"amount": 2000, "currency": "usd"}


def test_advance_moves_timestamps_of_this_tenant_only(serve_stateful) -> None:
    running = serve_stateful()
    alice, bob = running.new_key("alice"), running.new_key("bob")
    with running.client(alice) as a, running.client(bob) as b:
        before = a.post("/v1/charges", json=CHARGE).json()["created"]
        moved = a.post("/__sandlot/clock/advance", json={"by": "3d"}).json()
        assert moved["offset_seconds"] == 3 * 86400
        after = a.post("/v1/charges", json=CHARGE).json()["created"]
        other = b.post("/v1/charges", json=CHARGE).json()["created"]
        assert b.get("/__sandlot/clock").json()["offset_seconds"] == 0
    assert 3 * 86400 <= after - before < 3 * 86400 + 60
    assert other - before < 60


def test_advance_expires_data_past_the_retention(serve_stateful) -> None:
    running = serve_stateful(retention_seconds=3600)
    with running.client(running.new_key()) as client:
        charge = client.post("/v1/charges", json=CHARGE).json()
        assert client.get(f"/v1/charges/{charge['id']}").status_code == 200
        client.post("/__sandlot/clock/advance", json={"seconds": 7200})
        assert client.get(f"/v1/charges/{charge['id']}").status_code == 404


def test_reset_returns_the_clock_to_the_start(serve_stateful) -> None:
    running = serve_stateful()
    with running.client(running.new_key()) as client:
        client.post("/__sandlot/clock/advance", json={"by": "30d"})
        assert client.get("/__sandlot/clock").json()["offset_seconds"] == 30 * 86400
        assert client.post("/__sandlot/reset").status_code == 200
        assert client.get("/__sandlot/clock").json()["offset_seconds"] == 0


def test_reset_forgets_pending_deliveries(serve_stateless) -> None:
    running = serve_stateless()
    with running.client() as client:
        client.post("/__sandlot/webhooks/endpoints", json={"url": "http://127.0.0.1:9/x"})
        client.post("/__sandlot/webhooks/trigger", json={"event": "charge.succeeded", "fault": "delay",
                                                         "delay": "1d"})
        assert len(client.get("/__sandlot/webhooks/deliveries").json()["deliveries"]) == 1
        assert client.post("/__sandlot/reset").status_code == 200
        assert client.get("/__sandlot/webhooks/deliveries").json()["deliveries"] == []
        assert client.get("/__sandlot/webhooks/endpoints").json()["endpoints"] == []


def test_admin_token_acts_on_a_named_tenant(serve_stateful) -> None:
    from tests.scenarios.conftest import ADMIN

    running = serve_stateful()
    key = running.new_key()
    with running.client(ADMIN) as admin, running.client(key) as tenant:
        assert admin.post("/__sandlot/clock/advance", json={"by": "1h", "key": key}).status_code == 200
        assert tenant.get("/__sandlot/clock").json()["offset_seconds"] == 3600
        assert admin.post("/__sandlot/clock/advance", json={"by": "1h"}).status_code == 400
    with running.client("sk_sbx_nobody") as stranger:
        assert stranger.get("/__sandlot/clock").status_code == 401


def test_clock_arithmetic_and_durations() -> None:
    state = MemoryState()
    clock = VirtualClock(state, base=lambda: 1000.0)
    assert clock.now("t") == 1000.0
    assert clock.advance("t", 90) == 1090.0 and clock.now("u") == 1000.0
    with pytest.raises(DurationError, match="only moves forward"):
        clock.advance("t", -1)
    assert [parse_duration(v) for v in ("250ms", "2s", "1.5m", "72h", "7d", 3, "4")] == \
        [0.25, 2.0, 90.0, 259200.0, 604800.0, 3.0, 4.0]
    with pytest.raises(DurationError, match="250ms, 2s"):
        parse_duration("soon")


def test_admin_reset_of_a_stateful_tenant_forgets_its_deliveries(serve_stateful) -> None:
    from tests.scenarios.conftest import ADMIN

    running = serve_stateful()
    key = running.new_key()
    with running.client(key) as tenant, running.client(ADMIN) as admin:
        tenant.post("/__sandlot/webhooks/endpoints", json={"url": "http://127.0.0.1:9/x"})
        tenant.post("/v1/charges", json=CHARGE)  # the shop's rule schedules charge.succeeded in 1 h
        assert len(tenant.get("/__sandlot/webhooks/deliveries").json()["deliveries"]) == 1
        assert admin.post("/__sandlot/reset", json={"key": key}).status_code == 200
        assert tenant.get("/__sandlot/webhooks/deliveries").json()["deliveries"] == []
        assert tenant.get("/__sandlot/webhooks/endpoints").json()["endpoints"] == []


@pytest.mark.parametrize("body", [b'{"seconds": 1e300}', b'{"seconds": Infinity}', b'{"seconds": NaN}',
                                  b'{"by": "99999999999d"}', b'{"seconds": -5}'])
def test_advance_refuses_what_is_not_a_usable_time_and_saves_nothing(serve_stateless, body: bytes) -> None:
    with serve_stateless().client() as client:
        response = client.post("/__sandlot/clock/advance", content=body,
                               headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        assert response.json()["detail"]
        clock = client.get("/__sandlot/clock")
        assert clock.status_code == 200 and clock.json()["offset_seconds"] == 0


def test_advance_stops_at_ten_years_in_all(serve_stateless) -> None:
    with serve_stateless().client() as client:
        assert client.post("/__sandlot/clock/advance", json={"by": "3000d"}).status_code == 200
        refused = client.post("/__sandlot/clock/advance", json={"by": "651d"})
        assert refused.status_code == 400 and "10 years" in refused.json()["detail"]
        assert client.post("/__sandlot/clock/advance", json={"by": "650d"}).status_code == 200
        clock = client.get("/__sandlot/clock").json()
    assert clock["offset_seconds"] == 3650 * 86400 and clock["iso"] > "2030"


def test_a_duration_too_long_to_be_a_number_is_refused() -> None:
    with pytest.raises(DurationError, match="too long"):
        parse_duration("9" * 400 + "d")


def test_trigger_refuses_a_delay_the_clock_can_never_reach(serve_stateless) -> None:
    with serve_stateless().client() as client:
        client.post("/__sandlot/webhooks/endpoints", json={"url": "http://127.0.0.1:9/x"})
        response = client.post("/__sandlot/webhooks/trigger", json={"event": "charge.succeeded",
                                                                     "delay": 1e300})
        assert response.status_code == 400 and "10 years" in response.json()["detail"]
        assert client.get("/__sandlot/webhooks/deliveries").json()["deliveries"] == []

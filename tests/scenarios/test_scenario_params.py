"""Scenario parameters are checked: a typo, a parameter a scenario does not take, a value it
cannot use or a hold past the cap is a 400 naming the problem, never a silently different
answer (docs/scenarios.md promises it)."""

from __future__ import annotations

import pytest

from sandlot.simulation import scenarios
from sandlot.simulation.faults import BUILTIN, MAX_HOLD_SECONDS
from sandlot.simulation.stage import SimulationError, settings_from


def _refusal(client, **headers: str) -> str:
    response = client.get("/v1/charges/ch_1", headers=headers)
    assert response.status_code == 400, response.text
    return response.json()["detail"]


def test_a_misspelt_parameter_is_refused_naming_it(serve_stateless) -> None:
    with serve_stateless().client() as client:
        detail = _refusal(client, **{"Sandlot-Scenario": "unavailable; retry_atfer=5"})
    assert "'retry_atfer'" in detail and "retry_after" in detail


def test_downstream_failure_refuses_a_status_it_cannot_give(serve_stateless) -> None:
    with serve_stateless().client() as client:
        detail = _refusal(client, **{"Sandlot-Scenario": "downstream_failure; status=500"})
    assert "status=500" in detail and "502 or 504" in detail


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_refuses_a_parameter_it_does_not_take(serve_stateless, name: str) -> None:
    with serve_stateless().client() as client:
        detail = _refusal(client, **{"Sandlot-Scenario": f"{name}; bogus=1"})
    assert f"{name!r} has no parameter 'bogus'" in detail


@pytest.mark.parametrize(("header", "value"), [
    ("Sandlot-Scenario", "timeout; delay=121s"), ("Sandlot-Scenario", "slow; latency=5m"),
    ("Sandlot-Latency", "1h"),
])
def test_holds_past_the_cap_are_refused(serve_stateless, header: str, value: str) -> None:
    with serve_stateless().client() as client:
        detail = _refusal(client, **{header: value})
        assert client.get("/v1/charges/ch_1").status_code == 200
    assert f"cap of {MAX_HOLD_SECONDS:g} s" in detail


def test_the_cap_itself_is_allowed() -> None:
    scenarios.check("timeout", {"delay": MAX_HOLD_SECONDS}, {})
    scenarios.check("downstream_failure", {"status": 504}, {})


def test_a_sticky_scenario_with_a_typo_is_refused(serve_stateless) -> None:
    with serve_stateless().client() as client:
        response = client.put("/__sandlot/scenario", json={"scenario": "rate_limited; retry=5"})
        assert response.status_code == 400 and "'retry'" in response.json()["detail"]
        assert client.get("/__sandlot/scenario").json()["scenario"] is None


def test_a_default_scenario_with_a_typo_is_refused() -> None:
    document = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {}}
    with pytest.raises(SimulationError, match="'retry_atfer'"):
        settings_from(document, None, "unavailable; retry_atfer=5")


def test_named_scenarios_take_no_parameters() -> None:
    named = scenarios.named_from({"card_declined": {"status": 402}}, "x")
    with pytest.raises(scenarios.ScenarioError, match="takes no parameters"):
        scenarios.check("card_declined", {"code": "x"}, named)


def test_a_sticky_scenario_names_its_operations_as_strings(serve_stateless) -> None:
    with serve_stateless().client() as client:
        response = client.put("/__sandlot/scenario", json={"scenario": "slow", "operations": 5})
    assert response.status_code == 400 and '"operations" lists operationIds' in response.json()["detail"]

"""The simulation through the real command line: `sandlot mock --scenario`, the sidecar
config's simulation keys with `--stateful`, and `sandlot up` with a downstream's scenario."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from tests.sandbox.servers import free_port, start, start_stateful_mock, stop
from tests.scenarios.conftest import SHOP

CHARGE = {"amount": 2000, "currency": "usd"}


def test_mock_with_a_default_scenario() -> None:
    port = free_port()
    proc = start(["mock", str(SHOP), "--port", str(port), "--no-watch", "--log-level", "warning",
                  "--scenario", "unavailable; retry_after=9"], f"http://127.0.0.1:{port}/__sandlot/health")
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/v1/charges/ch_1", timeout=10)
        asked = httpx.get(f"http://127.0.0.1:{port}/v1/charges/ch_1", timeout=10,
                          headers={"Sandlot-Scenario": "server_error"})
    finally:
        code, _, err = stop(proc)
    assert response.status_code == 503 and response.headers["retry-after"] == "9"
    assert asked.status_code == 500
    assert code == 0, err


def test_mock_refuses_an_unknown_default_scenario() -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "sandlot.cli", "mock", str(SHOP), "--scenario", "nope"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "unknown scenario 'nope'" in result.stderr


def test_stateful_mock_reads_the_simulation_keys_of_the_config(tmp_path: Path) -> None:
    config = tmp_path / "sandlot.yaml"
    config.write_text(yaml.safe_dump({
        "rateLimit": {"requests": 2, "per": "1h"},
        "scenarios": {"teapot": {"status": 418, "body": {"error": {"type": "teapot", "message": "short"}}}},
        "webhooks": {"retry": {"attempts": 2, "backoff": "10ms"}},
    }))
    proc, root = start_stateful_mock(SHOP, tmp_path / "s.db", None, "adm_e2e", extra=["--config", str(config)])
    try:
        key = httpx.post(f"{root}/__sandlot/keys", json={"name": "e2e"}, timeout=10,
                         headers={"authorization": "Bearer adm_e2e"}).json()["key"]
        with httpx.Client(base_url=root, headers={"authorization": f"Bearer {key}"}, timeout=10) as client:
            teapot = client.get("/v1/charges", headers={"Sandlot-Scenario": "teapot"})
            second = client.get("/v1/charges")
            third = client.get("/v1/charges")
    finally:
        code, _, err = stop(proc)
    assert teapot.status_code == 418 and teapot.json()["error"]["type"] == "teapot"
    assert second.status_code == 200 and second.headers["x-ratelimit-remaining"] == "0"
    assert third.status_code == 429 and third.headers["retry-after"] == "1800"
    assert code == 0, err


def test_up_applies_a_downstreams_scenario(tmp_path: Path) -> None:
    spec_text = SHOP.read_text()
    manifest = tmp_path / "sandbox.yaml"
    manifest.write_text(yaml.safe_dump_all([
        {"apiVersion": "sandlot.dev/v1alpha1", "kind": "SandboxEnvironment", "metadata": {"name": "sim"},
         "spec": {"app": {"image": "example/app:1", "port": 8080},
                  "downstreams": [{"name": "shop", "envVar": "SHOP_URL", "stateful": False,
                                   "scenario": "downstream_failure",
                                   "openapi": {"configMap": {"name": "shop-openapi", "key": "openapi.yaml"}}}]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shop-openapi"},
         "data": {"openapi.yaml": spec_text}},
    ]))
    port = free_port()
    proc = start(["up", str(manifest), "--port", str(port), "--state-dir", str(tmp_path / "state")],
                 f"http://127.0.0.1:{port}/__sandlot/health")
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/v1/charges/ch_1", timeout=10)
        with pytest.raises(httpx.RemoteProtocolError):  # the edge closes sockets behind up's dispatcher too
            httpx.get(f"http://127.0.0.1:{port}/v1/charges/ch_1", timeout=10,
                      headers={"Sandlot-Scenario": "timeout; delay=100ms"})
    finally:
        code, _, err = stop(proc)
    assert response.status_code == 502 and response.json()["scenario"] == "downstream_failure"
    assert code == 0, err

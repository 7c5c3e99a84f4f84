"""The stateful sandbox over real HTTP on 127.0.0.1: `sandlot mock --stateful` processes,
the `sandlot keys` / `sandlot reset` commands against the same state file, and restarts."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from .conftest import ADMIN_TOKEN, EXAMPLE, configmap_value
from .servers import SANDLOT, start_stateful_mock, stop


@pytest.fixture
def fixtures_file(tmp_path: Path) -> Path:
    path = tmp_path / "fixtures.yaml"
    path.write_text(configmap_value(EXAMPLE / "payments-fixtures.yaml", "fixtures.yaml"))
    return path


def sandlot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SANDLOT, *args], capture_output=True, text=True, timeout=60)


def new_key(db: Path) -> str:
    done = sandlot("keys", "create", "--db", str(db), "--name", "test")
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert key.startswith("sk_sbx_") and len(key) >= len("sk_sbx_") + 43  # 32 bytes, base64url
    return key


def test_flow_isolation_reset_and_live_keys_over_http(payments_spec_path: Path, fixtures_file: Path,
                                                      tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    proc, root = start_stateful_mock(payments_spec_path, db, fixtures_file, ADMIN_TOKEN)
    try:
        first_key = proc.stdout.readline().split(": ")[-1].strip()
        assert first_key.startswith("sk_sbx_")  # printed once at the first start
        alice = httpx.Client(base_url=root + "/v1", headers={"authorization": f"Bearer {first_key}"})
        bob = httpx.Client(base_url=root + "/v1", headers={"authorization": f"Bearer {new_key(db)}"})
        seeded = alice.get("/customers").json()

        cus = alice.post("/customers", json={"email": "ann@example.com", "name": "Ann"}).json()
        ch = alice.post("/charges", json={"amount": 4200, "currency": "usd", "customer": cus["id"]})
        assert ch.status_code == 201
        re_ = alice.post("/refunds", json={"charge": ch.json()["id"], "amount": 4200})
        assert re_.status_code == 201
        refunds = alice.get("/refunds", params={"charge": ch.json()["id"]}).json()["data"]
        assert [r["id"] for r in refunds] == [re_.json()["id"]]

        assert bob.get(f"/customers/{cus['id']}").status_code == 404
        assert bob.get(f"/charges/{ch.json()['id']}").status_code == 404

        live = httpx.get(root + "/v1/customers", headers={"authorization": "Bearer sk_live_123"})
        assert live.status_code == 401 and "sandbox" in live.json()["detail"]
        assert httpx.get(root + "/v1/customers").status_code == 401

        reset = alice.post(root + "/__sandlot/reset")
        assert reset.status_code == 200
        assert alice.get("/customers").json() == seeded
        assert alice.get(f"/charges/{ch.json()['id']}").status_code == 404

        log = httpx.get(root + "/__sandlot/requests", params={"key": first_key},
                        headers={"x-sandlot-admin-token": ADMIN_TOKEN}).json()["requests"]
        assert [(e["path"], e["status"]) for e in log[:2]] == [
            (f"/v1/charges/{ch.json()['id']}", 404), ("/v1/customers", 200)]
    finally:
        code, _, err = stop(proc)
    assert code == 0, err


def test_restart_keeps_state_and_cli_reset(payments_spec_path: Path, fixtures_file: Path,
                                           tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    proc, root = start_stateful_mock(payments_spec_path, db, fixtures_file, ADMIN_TOKEN)
    key = new_key(db)
    headers = {"authorization": f"Bearer {key}"}
    try:
        cus = httpx.post(root + "/v1/customers", json={"email": "keep@example.com"},
                         headers=headers).json()
    finally:
        assert stop(proc)[0] == 0
    proc, root = start_stateful_mock(payments_spec_path, db, fixtures_file, ADMIN_TOKEN)
    try:
        again = httpx.get(f"{root}/v1/customers/{cus['id']}", headers=headers)
        assert again.status_code == 200 and again.json() == cus
        # The request log buffered before the restart was written at shutdown.
        log = httpx.get(root + "/__sandlot/requests", headers=headers).json()["requests"]
        assert [(e["method"], e["status"]) for e in log] == [("GET", 200), ("POST", 201)]
        done = sandlot("reset", "--db", str(db), "--key", key)
        assert done.returncode == 0 and "3 seeded objects restored" in done.stdout
        assert httpx.get(f"{root}/v1/customers/{cus['id']}", headers=headers).status_code == 404
    finally:
        assert stop(proc)[0] == 0


def test_admin_api_over_http(payments_spec_path: Path, fixtures_file: Path, tmp_path: Path) -> None:
    proc, root = start_stateful_mock(payments_spec_path, tmp_path / "s.db", fixtures_file, ADMIN_TOKEN)
    admin = httpx.Client(base_url=root + "/__sandlot", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    try:
        created = admin.post("/keys", json={"name": "ci"}).json()
        key_id = created["key_id"]
        user = {"authorization": f"Bearer {created['key']}"}
        assert httpx.get(root + "/v1/customers", headers=user).status_code == 200
        listed = admin.get("/keys", params={"tenant": created["tenant"]}).json()["keys"]
        assert [k["key_id"] for k in listed] == [key_id]
        assert admin.delete(f"/keys/{key_id}").status_code == 200
        assert httpx.get(root + "/v1/customers", headers=user).status_code == 401
        assert httpx.post(root + "/__sandlot/keys").status_code == 401
    finally:
        assert stop(proc)[0] == 0


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    missing = sandlot("keys", "list", "--db", str(tmp_path / "none.db"))
    assert missing.returncode == 2 and "no state file" in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("customers: 3\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(configmap_value(EXAMPLE / "payments-openapi.yaml", "openapi.yaml"))
    refused = sandlot("mock", str(spec), "--stateful", "--db", str(tmp_path / "x.db"),
                      "--fixtures", str(bad), "--no-watch")
    assert refused.returncode == 2 and "customers: expected a list of objects" in refused.stderr


def test_quota_and_retention_over_http(payments_spec_path: Path, fixtures_file: Path,
                                       tmp_path: Path) -> None:
    config = tmp_path / "sandlot.yaml"
    config.write_text("retention: 1s\nquota: {objects: 2, requestsPerDay: 8}\n")
    db = tmp_path / "q.db"
    proc, root = start_stateful_mock(payments_spec_path, db, fixtures_file, ADMIN_TOKEN,
                                     extra=["--config", str(config)])
    try:
        api = httpx.Client(base_url=root + "/v1", headers={"authorization": f"Bearer {new_key(db)}"})
        first = api.post("/customers", json={"email": "1@example.com"})
        assert api.post("/customers", json={"email": "2@example.com"}).status_code == 201
        full = api.post("/customers", json={"email": "3@example.com"})
        assert full.status_code == 429 and full.json()["limit"] == "objects"
        time.sleep(1.3)  # longer than the 1 s retention: both objects are now expired
        assert api.get(f"/customers/{first.json()['id']}").status_code == 404
        assert api.post("/customers", json={"email": "4@example.com"}).status_code == 201
        statuses = [api.get("/customers").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]  # 8 requests a day: 4 before, then 3 more
        assert api.get("/customers").json()["limit"] == "requests_per_day"
    finally:
        assert stop(proc)[0] == 0


def test_keys_issued_elsewhere_are_accepted(payments_spec_path: Path, fixtures_file: Path,
                                            tmp_path: Path, monkeypatch) -> None:
    from sandlot.state.keys import issue_key

    provided = [issue_key().secret, issue_key().secret]
    monkeypatch.setenv("SANDLOT_KEYS", ",".join(provided))  # as the operator's Secret would
    proc, root = start_stateful_mock(payments_spec_path, tmp_path / "k.db", fixtures_file, ADMIN_TOKEN)
    try:
        first, second = ({"authorization": f"Bearer {k}"} for k in provided)
        cus = httpx.post(root + "/v1/customers", json={"email": "p@example.com"}, headers=first)
        assert cus.status_code == 201
        assert httpx.get(f"{root}/v1/customers/{cus.json()['id']}", headers=second).status_code == 404
        assert httpx.get(f"{root}/v1/customers/cus_seed_ada", headers=second).status_code == 200
    finally:
        assert stop(proc)[0] == 0
    monkeypatch.setenv("SANDLOT_KEYS", "sk_live_oops")
    done = sandlot("mock", str(payments_spec_path), "--stateful", "--db", str(tmp_path / "k.db"),
                   "--no-watch")
    assert done.returncode == 2 and "must start with 'sk_sbx_'" in done.stderr

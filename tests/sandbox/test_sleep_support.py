"""What a stub offers a sleeping sandbox, over real HTTP: its last activity, and its whole state as a snapshot.

The operator reads `/__sandlot/activity` to decide that a sandbox is idle, takes
`GET /__sandlot/snapshot` before scaling the stub to zero, and puts it back with
`PUT /__sandlot/snapshot` into the fresh stub that starts on wake (docs/tenants.md).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.ports import free_port

from .conftest import ADMIN_TOKEN
from .servers import start, start_stateful_mock, stop

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def test_activity_counts_requests_but_not_probes(payments_spec_path: Path, tmp_path: Path) -> None:
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    proc = start(["mock", str(payments_spec_path), "--port", str(port), "--no-watch", "--log-level", "warning"],
                 f"{root}/__sandlot/health")
    try:
        first = httpx.get(root + "/__sandlot/activity").json()
        assert first["lastRequestAt"] is None and first["requests"] == 0
        assert first["startedAt"].endswith("Z")
        httpx.get(root + "/__sandlot/health")
        assert httpx.get(root + "/__sandlot/activity").json()["requests"] == 0
        httpx.get(root + "/v1/customers")
        after = httpx.get(root + "/__sandlot/activity").json()
        assert after["requests"] == 1 and after["lastRequestAt"] >= first["startedAt"]
    finally:
        stop(proc)


def test_a_snapshot_put_into_a_fresh_stub_brings_back_objects_and_keys(payments_spec_path: Path,
                                                                       tmp_path: Path) -> None:
    proc, root = start_stateful_mock(payments_spec_path, tmp_path / "before.db", None, ADMIN_TOKEN)
    try:
        key = httpx.post(root + "/__sandlot/keys", headers=ADMIN, json={"name": "ci"}).json()["key"]
        auth = {"authorization": f"Bearer {key}"}
        made = httpx.post(root + "/v1/customers", headers=auth, json={"email": "kept@example.com"})
        assert made.status_code == 201
        assert httpx.get(root + "/__sandlot/snapshot", headers=auth).status_code == 403  # admin only
        before = httpx.get(root + "/__sandlot/activity").json()["requests"]
        snap = httpx.get(root + "/__sandlot/snapshot", headers=ADMIN)
        assert snap.status_code == 200 and snap.headers["content-type"] == "application/gzip"
        assert httpx.get(root + "/__sandlot/activity").json()["requests"] == before  # the operator's call is not use
    finally:
        stop(proc)
    fresh, root = start_stateful_mock(payments_spec_path, tmp_path / "after.db", None, ADMIN_TOKEN)
    try:
        assert httpx.get(f"{root}/v1/customers/{made.json()['id']}", headers=auth).status_code == 401  # unknown key
        bad = httpx.put(root + "/__sandlot/snapshot", headers=ADMIN, content=b"not a snapshot")
        assert bad.status_code == 400 and "not a Sandlot snapshot" in bad.json()["detail"]
        put = httpx.put(root + "/__sandlot/snapshot", headers=ADMIN, content=snap.content)
        assert put.status_code == 200 and put.json()["restored"] is True
        again = httpx.get(f"{root}/v1/customers/{made.json()['id']}", headers=auth)
        assert again.status_code == 200 and again.json() == made.json()
        more = httpx.post(root + "/v1/customers", headers=auth, json={"email": "after@example.com"})
        assert more.status_code == 201  # the restored store takes writes
    finally:
        stop(fresh)

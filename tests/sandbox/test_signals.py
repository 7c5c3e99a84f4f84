"""SIGTERM (how Kubernetes stops a pod) stops `sandlot mock --stateful` and `sandlot up`
as cleanly as Ctrl-C: the buffered request log is written, the process exits 0."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from .conftest import ADMIN_TOKEN, EXAMPLE
from .servers import free_port, start, start_stateful_mock, stop
from .test_up import env_file


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stateful_mock_keeps_every_logged_request_after_a_stop_signal(
        payments_spec_path: Path, tmp_path: Path, sig: signal.Signals) -> None:
    db = tmp_path / "state.db"
    proc, root = start_stateful_mock(payments_spec_path, db, None, ADMIN_TOKEN)
    try:
        key = proc.stdout.readline().split(": ")[-1].strip()
        api = httpx.Client(base_url=root + "/v1", headers={"authorization": f"Bearer {key}"})
        for _ in range(5):
            assert api.get("/customers").status_code == 200
    finally:
        code, _, err = stop(proc, sig=sig)
    assert code == 0, err

    proc, root = start_stateful_mock(payments_spec_path, db, None, ADMIN_TOKEN)
    try:
        log = httpx.get(root + "/__sandlot/requests", params={"key": key},
                        headers={"x-sandlot-admin-token": ADMIN_TOKEN}).json()["requests"]
    finally:
        stop(proc)
    assert [(e["path"], e["status"]) for e in log] == [("/v1/customers", 200)] * 5


def test_up_stops_on_sigterm_with_exit_0_and_keeps_the_log(tmp_path: Path) -> None:
    port = free_port()
    args = ["up", str(EXAMPLE / "sandbox.yaml"), "--port", str(port), "--state-dir", str(tmp_path)]
    proc = start(args, f"http://127.0.0.1:{port}/__sandlot/health")
    try:
        key = env_file(tmp_path / "credentials.env")["SANDLOT_KEY"]
        for _ in range(3):
            httpx.get(f"http://127.0.0.1:{port}/v1/customers",
                      headers={"authorization": f"Bearer {key}"}).raise_for_status()
    finally:
        code, out, err = stop(proc, sig=signal.SIGTERM)
    assert code == 0, err
    assert "Sandbox stopped." in out

    proc = start(args, f"http://127.0.0.1:{port}/__sandlot/health")
    try:
        admin = env_file(tmp_path / "credentials.env")["SANDLOT_ADMIN_TOKEN"]
        log = httpx.get(f"http://127.0.0.1:{port}/__sandlot/requests", params={"key": key},
                        headers={"x-sandlot-admin-token": admin}).json()["requests"]
    finally:
        stop(proc)
    assert len(log) == 3

"""`sandlot operator` as a user runs it: a subprocess (on both backends), with its endpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

from sandlot.reconcile.naming import sandbox_namespace
from tests.ports import free_port
from tests.operator.conftest import sandbox_spec
from tests.operator.harness import wait_for


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read().decode()


def _up(url: str) -> bool:
    try:
        return _get(url)[0] == 200
    except OSError:
        return False


def test_sandlot_operator_reconciles_and_serves_health_and_metrics(cluster):
    health, metrics = free_port(), free_port()
    env = {**os.environ, "KUBECONFIG": str(cluster.operator_kubeconfig)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandlot.cli", "operator", "--health-port", str(health),
         "--metrics-port", str(metrics)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: _up(f"http://127.0.0.1:{health}/healthz"), timeout=30, what="liveness")
        cluster.apply_sandbox(cluster.ns, "cli", sandbox_spec())
        ns = sandbox_namespace(cluster.ns, "cli")
        wait_for(lambda: cluster.mark_workloads_available(ns) == 0
                 and ((cluster.sandbox(cluster.ns, "cli") or {}).get("status") or {}).get("phase") == "Ready",
                 timeout=60, what="the CLI operator to make the sandbox Ready")
        _, text = _get(f"http://127.0.0.1:{metrics}/metrics")
        assert 'sandlot_sandboxes{phase="Ready",tenant="payments"} 1.0' in text
        assert "sandlot_api_write_calls_total" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out[-2000:]
    # Structured JSON logs; lines about a sandbox name it.
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    about = [entry for entry in lines if entry.get("object", {}).get("name") == "cli"]
    assert about and all(entry["object"]["namespace"] == cluster.ns for entry in about)

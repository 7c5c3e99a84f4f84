"""The whole life of a sandbox on a real cluster, through the chart as a user installs it.

helm install -> kubectl apply docs/examples/quickstart-sandbox.yaml -> Ready -> call the stub
through a port-forward -> kubectl delete -> nothing of the sandbox is left -> helm uninstall
keeps the CRDs. Skipped without a reachable cluster (see conftest.py).
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time

import httpx
import pytest

from e2e.conftest import REPO, Cluster
from e2e.stub_calls import exercise_petstore_stub

EXAMPLE = REPO / "docs" / "examples" / "quickstart-sandbox.yaml"
SANDBOX = "quickstart"
#: Deadlines for waiting on the cluster (never asserted on: slow clusters only wait longer).
READY_TIMEOUT = "6m"
GONE_DEADLINE_S = 300


def _diagnostics(cluster: Cluster, namespace: str, release_ns: str) -> str:
    """Return what a person needs to see why a sandbox did not converge."""
    parts = []
    for args in (["get", "sbx", "-n", namespace, "-o", "yaml"],
                 ["get", "events", "-n", namespace, "--sort-by=.lastTimestamp"],
                 ["logs", "-n", release_ns, "-l", "app.kubernetes.io/component=operator", "--tail=200"]):
        done = cluster.run("kubectl", args, check=False)
        parts.append(f"$ kubectl {' '.join(args)}\n{done.stdout}{done.stderr}")
    return "\n".join(parts)


def _wait_until_gone(cluster: Cluster, args: list[str]) -> bool:
    """Poll `kubectl get args` until it finds nothing; return False at the deadline."""
    deadline = time.monotonic() + GONE_DEADLINE_S
    while time.monotonic() < deadline:
        done = cluster.run("kubectl", [*args, "-o", "name", "--ignore-not-found"], check=False)
        if done.returncode == 0 and not done.stdout.strip():
            return True
        time.sleep(3)
    return False


def _port_forward(cluster: Cluster, namespace: str, service: str, port: int) -> tuple[subprocess.Popen, int]:
    """Start `kubectl port-forward` to a Service on a free local port; return the process and port."""
    proc = subprocess.Popen([str(cluster.kubectl), "port-forward", "-n", namespace, f"svc/{service}",
                             f":{port}", "--address", "127.0.0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "Forwarding from 127.0.0.1:41234 -> 4010"
    found = re.search(r"127\.0\.0\.1:(\d+)", line)
    if not found:
        proc.kill()
        pytest.fail(f"port-forward to {namespace}/{service} did not start: {line}{proc.stderr.read()}")
    return proc, int(found.group(1))


@pytest.fixture
def installed(cluster: Cluster, sandlot_image, unique: str):
    """Install the chart in its own namespace; uninstall afterwards. Yields (release, namespace)."""
    repository, tag = sandlot_image
    release, namespace = f"sandlot-e2e-{unique}", f"sandlot-e2e-{unique}"
    cluster.run("helm", ["install", release, "charts/sandlot", "--namespace", namespace, "--create-namespace",
                         "--set", f"image.repository={repository}", "--set", f"image.tag={tag}",
                         "--wait", "--timeout", "5m"], timeout=360)
    yield release, namespace
    cluster.run("helm", ["uninstall", release, "--namespace", namespace, "--wait"], timeout=300, check=False)
    cluster.run("kubectl", ["delete", "namespace", namespace, "--wait=false", "--ignore-not-found"], check=False)


def test_sandbox_lifecycle_through_the_chart(cluster: Cluster, installed, work_namespace: str):
    release, release_ns = installed
    cluster.run("kubectl", ["apply", "-n", work_namespace, "-f", str(EXAMPLE)])

    ready = cluster.run("kubectl", ["wait", "-n", work_namespace, "--for=condition=Ready", f"sbx/{SANDBOX}",
                                    f"--timeout={READY_TIMEOUT}"], timeout=420, check=False)
    if ready.returncode != 0:
        pytest.fail(f"sandbox never became Ready: {ready.stderr}\n{_diagnostics(cluster, work_namespace, release_ns)}")

    sbx = json.loads(cluster.kubectl_text("get", "sbx", SANDBOX, "-n", work_namespace, "-o", "json"))
    status = sbx["status"]
    assert status["phase"] == "Ready"
    sandbox_ns = status["namespace"]
    assert set(status["endpoints"]) == {"app", "petstore", "petstore.inspector"}

    # The app finds its stub under the env var the spec names, at the URL status reports.
    deployments = json.loads(cluster.kubectl_text("get", "deployments", "-n", sandbox_ns, "-o", "json"))["items"]
    app_env = {e["name"]: e.get("value") for d in deployments
               if d["metadata"]["labels"].get("app.kubernetes.io/component") == "app"
               for e in d["spec"]["template"]["spec"]["containers"][0].get("env", [])}
    assert app_env["PETSTORE_URL"] == status["endpoints"]["petstore"]

    secret = json.loads(cluster.kubectl_text("get", "secret", status["credentialsSecret"], "-n", work_namespace,
                                             "-o", "json"))
    api_key = base64.b64decode(secret["data"]["apiKey"]).decode()
    assert api_key.startswith("sk_sbx_")

    proc, port = _port_forward(cluster, sandbox_ns, "stub-petstore", 4010)
    try:
        # The spec declares no security, so anonymous calls work ...
        exercise_petstore_stub(f"http://127.0.0.1:{port}")
        # ... and the key the operator generated for the sandbox must be accepted too.
        # Checked at the end, so a refusal still lets the sandbox be torn down and verified first.
        with_key = httpx.get(f"http://127.0.0.1:{port}/pets", headers={"Authorization": f"Bearer {api_key}"},
                             timeout=20)
    finally:
        proc.kill()
        proc.wait(timeout=10)

    cluster.run("kubectl", ["delete", "sbx", SANDBOX, "-n", work_namespace, "--timeout=5m"], timeout=330)
    assert _wait_until_gone(cluster, ["get", "namespace", sandbox_ns]), f"namespace {sandbox_ns} is still there"
    selector = f"sandlot.dev/sandbox={SANDBOX},sandlot.dev/sandbox-namespace={work_namespace}"
    assert _wait_until_gone(cluster, ["get", "namespaces", "-l", selector]), "a labelled sandbox namespace is left"
    assert _wait_until_gone(cluster, ["get", "secrets,configmaps", "-n", work_namespace, "-l", selector]), (
        "objects of the sandbox are left in the team's namespace")

    cluster.run("helm", ["uninstall", release, "--namespace", release_ns, "--wait"], timeout=300)
    # helm keeps CRDs from the chart's crds/ directory on uninstall, so no SandboxEnvironment
    # anywhere in the cluster is deleted along with the operator.
    crd = cluster.run("kubectl", ["get", "crd", "sandboxenvironments.sandlot.dev", "-o", "name"], check=False)
    assert crd.returncode == 0, "the SandboxEnvironment CRD was removed by helm uninstall"
    assert with_key.status_code == 200, f"the stub refused the sandbox's own apiKey: {with_key.text}"

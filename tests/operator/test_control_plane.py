"""What only the real control plane can prove: the chart, RBAC, the namespace controller, and faults.

Runs on kube-apiserver 1.36.3 with etcd, the controller-manager, the scheduler and kwok
(tests/controlplane). The operator runs as the chart's ServiceAccount: in-process for the
namespace test, as separate `sandlot operator` processes for the fault tests, which SIGKILL
them, run two with peering, and restart the apiserver under them.
"""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from sandlot.kube import Kube
from sandlot.reconcile.naming import sandbox_namespace
from tests.controlplane.cluster import write_kubeconfig
from tests.controlplane.fixtures import Release, helm, service_account_token
from tests.operator.conftest import sandbox_spec
from tests.operator.harness import Cluster, OperatorProcess, wait_for

pytestmark = pytest.mark.cluster
REAL_ONLY = pytest.mark.parametrize("cluster", [pytest.param("kube-apiserver", marks=pytest.mark.cluster)],
                                    indirect=True)


def _phase(cluster: Cluster, name: str) -> str | None:
    return ((cluster.sandbox(cluster.ns, name) or {}).get("status") or {}).get("phase")


def _owned_namespaces(cluster: Cluster) -> list[str]:
    """Return the sandbox namespaces (alive or terminating) owned by sandboxes of the test's namespace."""
    return sorted(ns["metadata"]["name"] for ns in cluster.kube.list("v1", "Namespace")
                  if (ns["metadata"].get("annotations") or {}).get("sandlot.dev/owner", "").startswith(
                      f"{cluster.ns}/"))


def _all_ready(cluster: Cluster, names: list[str]) -> bool:
    return all(_phase(cluster, n) == "Ready" for n in names)


def test_the_control_plane_reports_kubernetes_1_36_3(control_plane):
    status, version = control_plane.request("GET", "/version")
    assert status == 200 and version["gitVersion"] == "v1.36.3"
    status, nodes = control_plane.request("GET", "/api/v1/nodes")
    assert [n["metadata"]["name"] for n in nodes["items"]] == ["kwok-node-0"]


def test_helm_installed_the_chart_and_the_crds_are_established(sandlot_release: Release):
    listed = helm(sandlot_release.plane, "list", "-n", sandlot_release.namespace, "-o", "json").stdout
    assert '"name":"sandlot"' in listed and '"status":"deployed"' in listed
    for crd in ("sandboxenvironments.sandlot.dev", "sandboxtenants.sandlot.dev"):
        status, body = sandlot_release.plane.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd}")
        assert status == 200, body
        conditions = {c["type"]: c["status"] for c in body["status"]["conditions"]}
        assert conditions["Established"] == "True" and conditions["NamesAccepted"] == "True", conditions


def test_the_operator_identity_is_refused_what_its_cluster_role_does_not_grant(sandlot_release: Release):
    client = kubernetes.config.new_client_from_config(config_file=str(sandlot_release.operator_kubeconfig))
    kube = Kube(client)
    try:
        # Granted: what the operator needs.
        assert kube.list("sandlot.dev/v1alpha1", "SandboxEnvironment") is not None
        kube.list("v1", "Namespace")
        # Not granted: listing Secrets, touching Pods, widening its own rights.
        refused = [
            lambda: kube.list("v1", "Secret", "kube-system"),
            lambda: kube.delete("v1", "Pod", "anything", "kube-system"),
            lambda: kube._call("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", body={
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "sandlot-escalate"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": "sandlot", "namespace": "sandlot-system"}]}),
        ]
        for call in refused:
            with pytest.raises(ApiException) as info:
                call()
            assert info.value.status == 403, info.value.body
            assert "system:serviceaccount:sandlot-system:sandlot" in info.value.body
    finally:
        client.close()


@REAL_ONLY
def test_kubectl_delete_terminates_the_namespace_through_the_namespace_controller(cluster, operator):
    from tests.chart.cluster_tools import find_tool

    cluster.apply_sandbox(cluster.ns, "pr-1", sandbox_spec())
    ns = sandbox_namespace(cluster.ns, "pr-1")
    wait_for(lambda: _phase(cluster, "pr-1") == "Ready", what="Ready")
    pods = cluster.objects("Pod", ns)
    assert len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods)  # kwok ran them
    kubectl = find_tool("kubectl")
    done = subprocess.run([str(kubectl), "--kubeconfig", str(cluster.plane.admin_kubeconfig), "delete",
                           "sandboxenvironment", "pr-1", "-n", cluster.ns, "--wait=false"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    seen_terminating = wait_for(
        lambda: (n := cluster.kube.get("v1", "Namespace", ns)) is None or n["status"].get("phase") == "Terminating",
        what="the namespace Terminating")
    wait_for(lambda: cluster.sandbox(cluster.ns, "pr-1") is None, what="the CR gone after its namespace")
    assert cluster.kube.get("v1", "Namespace", ns) is None and cluster.objects(namespace=ns) == []
    assert seen_terminating  # the namespace controller, not the operator, emptied it
    wait_for(lambda: cluster.managed(cluster.ns) == [], what="the credentials copy collected")


@REAL_ONLY
def test_sigkilled_operator_during_a_burst_of_ten_converges_to_exactly_ten(cluster, tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    names = [f"burst-{i}" for i in range(10)]
    operator = OperatorProcess(cluster.operator_kubeconfig, tmp_path / "operator.log").start()
    try:
        for name in names:
            cluster.apply_sandbox(cluster.ns, name, sandbox_spec())
        cluster.apply_sandbox(cluster.ns, "no-spec", sandbox_spec(downstreams=[{
            "name": "pets", "openapi": {"configMap": {"name": "missing", "key": "openapi.yaml"}},
            "envVar": "PETS_API_URL"}]))
        kills = []
        for _ in range(3):
            time.sleep(rng.uniform(0.2, 2.5))
            kills.append(sum(_phase(cluster, n) == "Ready" for n in names))
            operator.kill()
            operator.start()
        wait_for(lambda: _all_ready(cluster, names), timeout=180, what=f"all ten Ready (seed {seed}, kills {kills})",
                 details=lambda: {n: _phase(cluster, n) for n in names})
        cond = wait_for(lambda: (c := cluster.ready_condition(cluster.ns, "no-spec")).get("reason")
                        == "ConfigMapNotFound" and c, what="the missing ConfigMap explained")
        assert "'missing'" in cond["message"]
        assert _owned_namespaces(cluster) == sorted(sandbox_namespace(cluster.ns, n) for n in names)
        for name in names:  # one key per sandbox, and the team's copy holds that key
            ns = sandbox_namespace(cluster.ns, name)
            key = cluster.kube.get("v1", "Secret", "sandlot-credentials", ns)["data"]["apiKey"]
            assert cluster.kube.get("v1", "Secret", f"{name}-credentials", cluster.ns)["data"]["apiKey"] == key
        for name in [*names, "no-spec"]:
            cluster.delete_sandbox(cluster.ns, name)
        wait_for(lambda: not cluster.kube.list("sandlot.dev/v1alpha1", "SandboxEnvironment", cluster.ns),
                 timeout=180, what="every sandbox deleted")
        wait_for(lambda: _owned_namespaces(cluster) == [], timeout=120, what="no sandbox namespace left")
    finally:
        operator.stop()


@REAL_ONLY
def test_two_replicas_with_peering_exactly_one_acts_and_the_other_takes_over(cluster, tmp_path):
    plane = cluster.plane
    release, namespace, peering = "sandlot-ha", "sandlot-ha", "sandlot-ha-test"
    helm(plane, "install", release, str(Path(__file__).resolve().parents[2] / "charts" / "sandlot"),
         "--namespace", namespace, "--create-namespace", "--wait=false",
         "--set", "ha.enabled=true", "--set", f"ha.peeringName={peering}")
    try:
        status, _ = plane.request("GET", f"/apis/kopf.dev/v1/clusterkopfpeerings/{peering}")
        assert status == 200, "the chart's post-install hook did not create the peering object"
        kubeconfig = write_kubeconfig(tmp_path / "ha.kubeconfig", plane.server, plane.pki.ca_cert, user=release,
                                      token=service_account_token(plane, namespace, release))
        replicas = [OperatorProcess(kubeconfig, tmp_path / f"replica-{i}.log", "--peering", peering).start()
                    for i in range(2)]
        try:
            wait_for(lambda: len(plane.request("GET", f"/apis/kopf.dev/v1/clusterkopfpeerings/{peering}")[1]
                                  .get("status") or {}) == 2, what="both replicas in the peering object")
            cluster.apply_sandbox(cluster.ns, "first", sandbox_spec())
            wait_for(lambda: _phase(cluster, "first") == "Ready", what="first Ready")
            acting = [r for r in replicas if r.lines_about("first")]
            assert len(acting) == 1, [len(r.lines_about("first")) for r in replicas]
            [standby] = [r for r in replicas if r is not acting[0]]
            assert acting[0].stop() == 0
            cluster.apply_sandbox(cluster.ns, "second", sandbox_spec())
            wait_for(lambda: _phase(cluster, "second") == "Ready", timeout=120, what="second Ready after hand-over")
            assert standby.lines_about("second") and standby.alive
        finally:
            for replica in replicas:
                replica.stop()
    finally:
        helm(plane, "uninstall", release, "--namespace", namespace, "--wait=false")


@REAL_ONLY
def test_the_operator_recovers_from_an_apiserver_restart_without_restarting(cluster, tmp_path):
    operator = OperatorProcess(cluster.operator_kubeconfig, tmp_path / "operator.log").start()
    try:
        pid = operator.proc.pid
        cluster.apply_sandbox(cluster.ns, "before", sandbox_spec())
        wait_for(lambda: _phase(cluster, "before") == "Ready", what="before Ready")
        cluster.plane.stop_apiserver()
        time.sleep(3)
        cluster.plane.start_apiserver()
        cluster.apply_sandbox(cluster.ns, "after", sandbox_spec())
        wait_for(lambda: _phase(cluster, "after") == "Ready", timeout=120, what="a sandbox made after the restart Ready",
                 details=lambda: operator.text()[-2000:])
        cluster.patch_sandbox(cluster.ns, "before", {"spec": {"app": {"image": "ghcr.io/acme/payments:2.0.0"}}})
        ns = sandbox_namespace(cluster.ns, "before")
        wait_for(lambda: cluster.kube.get("apps/v1", "Deployment", "app", ns)["spec"]["template"]["spec"]
                 ["containers"][0]["image"].endswith(":2.0.0"), what="an update after the restart applied")
        assert operator.alive and operator.proc.pid == pid
    finally:
        operator.stop()


@REAL_ONLY
def test_the_docs_quickstart_goes_through_its_whole_life_with_kubectl(cluster, operator):
    """docs/examples/quickstart-sandbox.yaml, applied, updated and deleted with the real kubectl."""
    from tests.chart.cluster_tools import find_tool

    quickstart = Path(__file__).resolve().parents[2] / "docs" / "examples" / "quickstart-sandbox.yaml"
    kubectl = [str(find_tool("kubectl")), "--kubeconfig", str(cluster.plane.admin_kubeconfig), "-n", cluster.ns]

    def run(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run([*kubectl, *args], input=stdin, capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done.stdout

    run("apply", "-f", str(quickstart))
    ns = sandbox_namespace(cluster.ns, "quickstart")
    wait_for(lambda: _phase(cluster, "quickstart") == "Ready", what="quickstart Ready",
             details=lambda: (cluster.sandbox(cluster.ns, "quickstart") or {}).get("status"))
    assert cluster.managed(ns) == sorted([
        ("ConfigMap", "openapi-petstore"), ("Deployment", "app"), ("Deployment", "stub-petstore"),
        ("LimitRange", "sandbox-limits"), ("NetworkPolicy", "sandbox-isolation"),
        ("ResourceQuota", "sandbox-quota"), ("Secret", "sandlot-credentials"), ("Service", "app"),
        ("Service", "stub-petstore"), ("ServiceAccount", "sandbox")])
    ready = cluster.ready_condition(cluster.ns, "quickstart")
    assert (ready["status"], ready["reason"]) == ("True", "Ready")
    pods = {p["metadata"]["labels"]["app.kubernetes.io/component"]: p for p in cluster.objects("Pod", ns)}
    assert pods["app"]["spec"]["containers"][0]["image"] == "ghcr.io/stefanprodan/podinfo:6.7.0"
    assert all(p["status"]["phase"] == "Running" for p in pods.values())
    quota = cluster.kube.get("v1", "ResourceQuota", "sandbox-quota", ns)
    wait_for(lambda: (cluster.kube.get("v1", "ResourceQuota", "sandbox-quota", ns).get("status") or {})
             .get("used", {}).get("pods") == "2", what="the quota controller counting the two pods")
    assert quota["spec"]["hard"]["pods"] == "20"

    # A new image rolls out: a new ReplicaSet's pod runs the new image and the old pod goes.
    run("apply", "-f", "-", stdin=quickstart.read_text().replace("podinfo:6.7.0", "podinfo:6.7.1"))
    wait_for(lambda: [p["spec"]["containers"][0]["image"] for p in cluster.objects("Pod", ns)
                      if p["metadata"]["labels"]["app.kubernetes.io/component"] == "app"
                      and not p["metadata"].get("deletionTimestamp")] == ["ghcr.io/stefanprodan/podinfo:6.7.1"],
             what="the app rolled out to 6.7.1")
    wait_for(lambda: _phase(cluster, "quickstart") == "Ready"
             and cluster.sandbox(cluster.ns, "quickstart")["status"]["observedGeneration"] == 2,
             what="Ready at generation 2")

    run("delete", "-f", str(quickstart), "--wait=false")
    wait_for(lambda: cluster.sandbox(cluster.ns, "quickstart") is None, what="the sandbox gone")
    assert cluster.kube.get("v1", "Namespace", ns) is None
    wait_for(lambda: cluster.managed(cluster.ns) == [], what="nothing managed left")


def test_a_port_taken_before_a_component_binds_it_starts_the_control_plane_again(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A port picked free may be taken before kube-apiserver binds it (CI once lost its whole
    cluster tier so): the control plane starts again on new ports."""
    import socket

    from tests.controlplane import cluster as control
    from tests.controlplane.build import ensure_built

    binaries = ensure_built(lambda _message: None)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        picks = {"count": 0}
        free = control.free_port

        def pick() -> int:
            picks["count"] += 1
            return taken if picks["count"] == 3 else free()  # the first try's API server port

        monkeypatch.setattr(control, "free_port", pick)
        plane = control.ControlPlane.started(binaries, tmp_path)
        try:
            assert plane.api_port != taken and plane.workdir == tmp_path / "try-1"
            assert "address already in use" in (tmp_path / "logs" / "kube-apiserver.log").read_text()
            assert plane.apiserver_ready()
        finally:
            plane.stop()

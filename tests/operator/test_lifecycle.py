"""The real kopf operator on both backends (emulator, real control plane): create, update, delete, expire, restart."""

from __future__ import annotations

import base64
import logging
from types import SimpleNamespace
from datetime import UTC, datetime, timedelta


from sandlot.reconcile.naming import sandbox_namespace
from tests.operator.conftest import sandbox_spec
from tests.operator.harness import OperatorRunner, wait_for

EXPECTED_IN_SANDBOX = sorted([
    ("ConfigMap", "openapi-pets"),
    ("Deployment", "app"),
    ("Deployment", "stub-pets"),
    ("LimitRange", "sandbox-limits"),
    ("NetworkPolicy", "sandbox-isolation"),
    ("ResourceQuota", "sandbox-quota"),
    ("Secret", "sandlot-credentials"),
    ("Service", "app"),
    ("Service", "stub-pets"),
    ("ServiceAccount", "sandbox"),
])


def _phase(cluster, name: str = "pr-1") -> str | None:
    return ((cluster.sandbox(cluster.ns, name) or {}).get("status") or {}).get("phase")


def _written(cluster, ns: str) -> dict[tuple[str, str], tuple[str, str]]:
    """Return (uid, the operator's content hash) of each managed object: what changes when the operator rewrites it.

    resourceVersion would also move when a controller updates an object's status (a quota's
    usage, a Deployment's rollout), which is not the operator's doing.
    """
    return {(o["kind"], o["metadata"]["name"]): (o["metadata"]["uid"],
                                                 (o["metadata"].get("annotations") or {}).get("sandlot.dev/config-hash"))
            for o in cluster.objects(namespace=ns)
            if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by") == "sandlot"
            and o["kind"] not in ("Pod", "Event")}


def _bring_up(cluster, name: str = "pr-1", **spec) -> str:
    """Apply a sandbox, play the kubelet, and wait until it is Ready; return its namespace."""
    cluster.apply_sandbox(cluster.ns, name, sandbox_spec(**spec))
    ns = sandbox_namespace(cluster.ns, name)
    wait_for(lambda: _phase(cluster, name) in ("Provisioning", "Ready") and cluster.kube.list("apps/v1", "Deployment", ns),
             what="provisioning")
    wait_for(lambda: cluster.mark_workloads_available(ns) == 0 and _phase(cluster, name) == "Ready",
             what=f"{name} Ready", details=lambda: (cluster.sandbox(cluster.ns, name) or {}).get("status"))
    return ns


def test_create_reaches_ready_with_exactly_the_expected_objects(cluster, operator):
    ns = _bring_up(cluster)
    assert cluster.managed(ns) == EXPECTED_IN_SANDBOX
    body = cluster.sandbox(cluster.ns, "pr-1")
    status = body["status"]
    assert status["namespace"] == ns
    assert status["observedGeneration"] == body["metadata"]["generation"]
    assert status["endpoints"] == {
        "app": f"http://app.{ns}.svc.cluster.local:8080",
        "pets": f"http://stub-pets.{ns}.svc.cluster.local:4010",
        "pets.inspector": f"http://stub-pets.{ns}.svc.cluster.local:4010/__sandlot/ui",
    }
    created = datetime.fromisoformat(body["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    assert status["expiresAt"] == (created + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ready = cluster.ready_condition(cluster.ns, "pr-1")
    assert (ready["status"], ready["reason"]) == ("True", "Ready")

    namespace = cluster.kube.get("v1", "Namespace", ns)
    assert namespace["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "sandlot"
    assert namespace["metadata"]["labels"]["sandlot.dev/tenant"] == "payments"

    # The app finds its stub through the env var; the key is handed over in the CR's namespace.
    app = cluster.kube.get("apps/v1", "Deployment", "app", ns)
    env = {e["name"]: e.get("value") for e in app["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PETS_API_URL"] == status["endpoints"]["pets"]
    assert env["SANDBOX_MODE"] == "true"
    copy = cluster.kube.get("v1", "Secret", status["credentialsSecret"], cluster.ns)
    key = base64.b64decode(copy["data"]["apiKey"]).decode()
    assert key.startswith("sk_sbx_") and len(key) == len("sk_sbx_") + 64

    # One Event when the sandbox is Ready (provisioning itself is logged, not posted).
    events = [e for e in cluster.objects("Event", cluster.ns) if e.get("involvedObject", {}).get("name") == "pr-1"]
    assert [(e["reason"], e["message"]) for e in events] == [("Ready", f"sandbox ready in namespace {ns}")]


def test_image_update_is_applied_in_place(cluster, operator):
    ns = _bring_up(cluster)
    before = _written(cluster, ns)
    cluster.patch_sandbox(cluster.ns, "pr-1", {"spec": {"app": {"image": "ghcr.io/acme/payments:1.1.0"}}})
    wait_for(lambda: cluster.kube.get("apps/v1", "Deployment", "app", ns)["spec"]["template"]["spec"]
             ["containers"][0]["image"] == "ghcr.io/acme/payments:1.1.0", what="new image")
    wait_for(lambda: cluster.mark_workloads_available(ns) == 0 and _phase(cluster) == "Ready"
             and cluster.sandbox(cluster.ns, "pr-1")["status"]["observedGeneration"] == 2, what="Ready at generation 2")
    after = _written(cluster, ns)
    changed = sorted(k for k in before if before[k] != after.get(k))
    assert changed == [("Deployment", "app")]
    assert after[("Deployment", "app")][0] == before[("Deployment", "app")][0]  # same object, not re-created


def test_new_downstream_and_quota_are_added_and_removed_in_place(cluster, operator):
    ns = _bring_up(cluster)
    cluster.configmap(cluster.ns, "cards-openapi", {"spec.json": '{"openapi": "3.1.0", "info": {"title": "c", "version": "1"}, "paths": {}}'})
    spec = sandbox_spec()
    spec["downstreams"].append({"name": "cards", "openapi": {"configMap": {"name": "cards-openapi", "key": "spec.json"}},
                                "envVar": "CARDS_URL", "stateful": False})
    cluster.patch_sandbox(cluster.ns, "pr-1", {"spec": {"downstreams": spec["downstreams"], "quota": {"pods": 7}}})
    wait_for(lambda: cluster.kube.get("apps/v1", "Deployment", "stub-cards", ns), what="second stub")
    wait_for(lambda: cluster.kube.get("v1", "ResourceQuota", "sandbox-quota", ns)["spec"]["hard"]["pods"] == "7",
             what="quota update")
    stub = cluster.kube.get("apps/v1", "Deployment", "stub-cards", ns)
    assert stub["spec"]["template"]["spec"]["containers"][0]["args"][:2] == ["mock", "/spec/spec.json"]
    # Removing it again deletes its stub, Service and ConfigMap.
    cluster.patch_sandbox(cluster.ns, "pr-1", {"spec": {"downstreams": sandbox_spec()["downstreams"]}})
    wait_for(lambda: cluster.kube.get("apps/v1", "Deployment", "stub-cards", ns) is None, what="stub removed")
    assert cluster.kube.get("v1", "Service", "stub-cards", ns) is None
    assert cluster.kube.get("v1", "ConfigMap", "openapi-cards", ns) is None


def test_delete_leaves_nothing_behind(cluster, operator):
    ns = _bring_up(cluster)
    cluster.delete_sandbox(cluster.ns, "pr-1")
    wait_for(lambda: cluster.sandbox(cluster.ns, "pr-1") is None, what="CR gone")
    assert cluster.kube.get("v1", "Namespace", ns) is None
    assert cluster.objects(namespace=ns) == []
    # The credentials copy goes with its owner (the garbage collector's work on a real cluster).
    wait_for(lambda: cluster.managed(cluster.ns) == [], what="nothing managed left in the team namespace")


def test_ttl_expiry_deletes_the_sandbox(cluster, operator, monkeypatch):
    from sandlot.controller import handlers

    ns = _bring_up(cluster)
    monkeypatch.setattr(handlers, "_now", lambda: datetime.now(UTC) + timedelta(hours=3))
    wait_for(lambda: cluster.sandbox(cluster.ns, "pr-1") is None, what="expired CR deleted")
    assert cluster.kube.get("v1", "Namespace", ns) is None
    reasons = cluster.event_reasons(cluster.ns)
    assert "Expired" in reasons


def test_ttl_expiry_with_retain_keeps_the_cr_and_raising_ttl_revives_it(cluster, operator, monkeypatch):
    from sandlot.controller import handlers

    ns = _bring_up(cluster, onExpiry="Retain")
    monkeypatch.setattr(handlers, "_now", lambda: datetime.now(UTC) + timedelta(hours=3))
    wait_for(lambda: _phase(cluster) == "Expired", what="phase Expired")
    assert cluster.kube.get("v1", "Namespace", ns) is None
    assert cluster.ready_condition(cluster.ns, "pr-1")["reason"] == "Expired"
    cluster.patch_sandbox(cluster.ns, "pr-1", {"spec": {"ttl": "1d"}})
    wait_for(lambda: cluster.kube.get("v1", "Namespace", ns), what="namespace back")
    wait_for(lambda: cluster.mark_workloads_available(ns) == 0 and _phase(cluster) == "Ready", what="Ready again")


def test_operator_restarted_mid_provisioning_converges_without_duplicates(cluster):
    first = OperatorRunner().start()
    cluster.apply_sandbox(cluster.ns, "pr-1", sandbox_spec())
    ns = sandbox_namespace(cluster.ns, "pr-1")
    wait_for(lambda: cluster.kube.get("v1", "Namespace", ns), what="namespace created")
    first.stop()
    key_before = cluster.kube.get("v1", "Secret", "sandlot-credentials", ns)
    second = OperatorRunner().start()
    try:
        wait_for(lambda: cluster.mark_workloads_available(ns) == 0 and _phase(cluster) == "Ready"
                 and len(cluster.managed(ns)) == len(EXPECTED_IN_SANDBOX), what="converged")
        assert cluster.managed(ns) == EXPECTED_IN_SANDBOX
        sandbox_namespaces = [o for o in cluster.objects("Namespace")
                              if (o["metadata"].get("annotations") or {}).get("sandlot.dev/owner", "").startswith(
                                  f"{cluster.ns}/")]
        assert [o["metadata"]["name"] for o in sandbox_namespaces] == [ns]
        if key_before is not None:  # credentials are never rotated by a restart
            assert cluster.kube.get("v1", "Secret", "sandlot-credentials", ns)["metadata"]["uid"] == \
                key_before["metadata"]["uid"]
    finally:
        second.stop()


def test_missing_configmap_reports_the_field_and_recovers_when_created(cluster, operator):
    spec = sandbox_spec(downstreams=[{"name": "pets", "openapi": {"configMap": {"name": "nope", "key": "openapi.yaml"}},
                                      "envVar": "PETS_API_URL"}])
    cluster.apply_sandbox(cluster.ns, "pr-2", spec)
    cond = wait_for(lambda: (c := cluster.ready_condition(cluster.ns, "pr-2")).get("reason") == "ConfigMapNotFound" and c,
                    what="ConfigMapNotFound")
    assert cond["status"] == "False"
    assert "spec.downstreams[0].openapi.configMap" in cond["message"] and "'nope'" in cond["message"]
    assert _phase(cluster, "pr-2") == "Failed"
    from tests.operator.conftest import PETSTORE

    cluster.configmap(cluster.ns, "nope", {"openapi.yaml": PETSTORE})
    ns = sandbox_namespace(cluster.ns, "pr-2")
    wait_for(lambda: cluster.mark_workloads_available(ns) == 0 and _phase(cluster, "pr-2") == "Ready",
             timeout=40, what="recovery once the ConfigMap exists")


def test_unpullable_image_fails_with_the_field_named(cluster, operator):
    ns = _bring_up(cluster)
    # A tag the registry does not have: kwok keeps the new pod in ImagePullBackOff as a kubelet
    # would; on the emulator the test plays that kubelet.
    cluster.patch_sandbox(cluster.ns, "pr-1", {"spec": {"app": {"image": "ghcr.io/acme/payments:nope"}}})
    if cluster.emulator is not None:
        cluster.kube.create({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": "app-abc", "namespace": ns, "labels": {"app.kubernetes.io/component": "app"}},
            "spec": {"containers": [{"name": "app", "image": "ghcr.io/acme/payments:nope"}]}})
        cluster.kube.patch("v1", "Pod", "app-abc", {"status": {"containerStatuses": [{
            "name": "app", "image": "ghcr.io/acme/payments:nope", "ready": False, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "manifest unknown"}}}]}},
            namespace=ns, status=True)
    cond = wait_for(lambda: (c := cluster.ready_condition(cluster.ns, "pr-1")).get("reason") == "ImagePullFailed" and c,
                    what="ImagePullFailed")
    assert "spec.app.image" in cond["message"] and "manifest unknown" in cond["message"]
    assert _phase(cluster) == "Failed"
    cluster.patch_sandbox(cluster.ns, "pr-1", {"spec": {"app": {"image": "ghcr.io/acme/payments:1.0.1"}}})
    if cluster.emulator is not None:
        cluster.kube.delete("v1", "Pod", "app-abc", ns)
    wait_for(lambda: cluster.mark_workloads_available(ns) == 0 and _phase(cluster) == "Ready",
             what="Ready once the image is fixed")


def test_tenant_grant_is_enforced(cluster, operator):
    cluster.kube.create({"apiVersion": "sandlot.dev/v1alpha1", "kind": "SandboxTenant",
                         "metadata": {"name": "payments"},
                         "spec": {"maxTtl": "1d", "allowedRegistries": ["ghcr.io/acme/"], "maxSandboxes": 5}})
    cluster.apply_sandbox(cluster.ns, "too-long", sandbox_spec(ttl="3d"))
    cond = wait_for(lambda: (c := cluster.ready_condition(cluster.ns, "too-long")).get("reason") == "TTLTooLong" and c,
                    what="TTLTooLong")
    assert "spec.ttl" in cond["message"] and "1d" in cond["message"]
    cluster.apply_sandbox(cluster.ns, "foreign", sandbox_spec(app={"image": "docker.io/evil/app:1"}))
    cond = wait_for(lambda: (c := cluster.ready_condition(cluster.ns, "foreign")).get("reason") == "ImageNotAllowed" and c,
                    what="ImageNotAllowed")
    assert "ghcr.io/acme/" in cond["message"]


def test_quick_successive_changes_with_a_seed_job_converge(cluster, operator):
    ns = _bring_up(cluster, seed={"job": {"image": "ghcr.io/acme/seed:1"}})
    cluster.configmap(cluster.ns, "cards-openapi", {"spec.json": '{"openapi": "3.1.0", "info": {"title": "c", "version": "1"}, "paths": {}}'})
    spec = sandbox_spec()
    with_cards = spec["downstreams"] + [{"name": "cards", "envVar": "CARDS_URL",
                                         "openapi": {"configMap": {"name": "cards-openapi", "key": "spec.json"}}}]
    cluster.patch_sandbox(cluster.ns, "pr-1", {"spec": {"downstreams": with_cards}})
    wait_for(lambda: cluster.kube.get("apps/v1", "Deployment", "stub-cards", ns), what="stub-cards")
    cluster.patch_sandbox(cluster.ns, "pr-1", {"spec": {"downstreams": spec["downstreams"]}})
    wait_for(lambda: cluster.kube.get("apps/v1", "Deployment", "stub-cards", ns) is None, what="stub-cards removed")
    job = wait_for(lambda: cluster.kube.get("batch/v1", "Job", "sandlot-seed", ns), what="seed job re-created")
    env = {e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "CARDS_URL" not in env
    wait_for(lambda: cluster.mark_workloads_available(ns) == 0 and _phase(cluster) == "Ready"
             and cluster.sandbox(cluster.ns, "pr-1")["status"]["observedGeneration"] == 3, what="Ready at generation 3")


def test_drift_in_the_sandbox_namespace_is_repaired(cluster, operator):
    ns = _bring_up(cluster)
    cluster.kube.delete("apps/v1", "Deployment", "stub-pets", ns)
    cluster.kube.delete("networking.k8s.io/v1", "NetworkPolicy", "sandbox-isolation", ns)
    wait_for(lambda: cluster.kube.get("apps/v1", "Deployment", "stub-pets", ns)
             and cluster.kube.get("networking.k8s.io/v1", "NetworkPolicy", "sandbox-isolation", ns),
             what="drift repaired")


def test_a_generation_never_handed_to_a_handler_is_still_converged(cluster, operator):
    ns = _bring_up(cluster)
    # As if kopf had dropped a change (it diffs against the last *handled* spec).
    cluster.kube.patch("sandlot.dev/v1alpha1", "SandboxEnvironment", "pr-1", {"status": {"observedGeneration": 0}},
                       namespace=cluster.ns, status=True)
    wait_for(lambda: cluster.sandbox(cluster.ns, "pr-1")["status"]["observedGeneration"] == 1, what="re-converged")
    assert cluster.managed(ns) == EXPECTED_IN_SANDBOX


def test_raising_the_ttl_extends_expiry(cluster, operator):
    _bring_up(cluster)
    before = cluster.sandbox(cluster.ns, "pr-1")["status"]["expiresAt"]
    cluster.patch_sandbox(cluster.ns, "pr-1", {"spec": {"ttl": "3d"}})
    after = wait_for(lambda: (e := cluster.sandbox(cluster.ns, "pr-1")["status"]["expiresAt"]) != before and e,
                     what="expiresAt moved")
    created = cluster.sandbox(cluster.ns, "pr-1")["metadata"]["creationTimestamp"]
    start = datetime.fromisoformat(created.replace("Z", "+00:00"))
    assert after == (start + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_periodic_check_alone_provisions_a_sandbox_with_no_status(cluster, monkeypatch):
    """Recovery must not depend on kopf's bookkeeping: a sandbox no change handler ever finished.

    kopf runs its resume handler when it first sees an object, but an operator SIGKILLed at the
    wrong moment can leave kopf's progress records saying the work is done when it is not. The
    periodic check is then all that is left, and it used to skip any sandbox without a phase,
    so such a sandbox was never provisioned and never explained. Here the check runs alone.
    """
    import kubernetes

    from sandlot.controller import handlers
    from sandlot.kube import Kube
    from sandlot.settings import load_settings

    events: list[tuple[str, str]] = []
    monkeypatch.setattr(handlers.kopf, "info", lambda body, *, reason, message: events.append((reason, message)))
    monkeypatch.setattr(handlers.kopf, "warn", lambda body, *, reason, message: events.append((reason, message)))
    client = kubernetes.config.new_client_from_config(config_file=str(cluster.operator_kubeconfig))
    ctx = handlers.Context(kube=Kube(client), settings=load_settings())
    cluster.apply_sandbox(cluster.ns, "pr-1", sandbox_spec())
    ns = sandbox_namespace(cluster.ns, "pr-1")

    def check() -> bool:
        handlers._recheck(ctx, SimpleNamespace(), cluster.sandbox(cluster.ns, "pr-1"), logging.getLogger("test"))
        return cluster.mark_workloads_available(ns) == 0 and _phase(cluster) == "Ready"

    try:
        wait_for(check, interval=0.5, what="Ready through the periodic check alone",
                 details=lambda: (cluster.sandbox(cluster.ns, "pr-1") or {}).get("status"))
    finally:
        client.close()
    assert cluster.managed(ns) == EXPECTED_IN_SANDBOX
    assert events == [("Ready", f"sandbox ready in namespace {ns}")]

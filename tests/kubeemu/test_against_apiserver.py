"""The emulator against kube-apiserver 1.36.3: the same raw API sequences on both, compared.

Each test runs one scenario (tests/kubeemu/differential.py) against a fresh emulator with the
project's CRDs enforced, and against the real control plane with the chart's CRDs (the same
files), in a namespace of the same name, and fails listing every observation that differs.
What is observed is what the operator (operator/sandlot/kube.py, controller/handlers.py) and
kopf depend on: server-filled metadata, generation, the status subresource, conflicts, patch
types, selectors, list and watch, finalizers, namespace termination, garbage collection, CRD
pruning, defaulting and validation, error Status bodies, Events and immutable fields.
Differences that stay are pinned by test_the_differences_that_stay_are_the_documented_ones and listed
in docs/emulator.md, with the decision to keep the emulator as the fast tier.
"""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes
import pytest
import yaml

from tests.controlplane.fixtures import Release
from tests.kubeemu import KubeEmulator
from tests.kubeemu.differential import (
    EVENTUALLY_SECONDS,
    Answer,
    Backend,
    Transcript,
    differences,
    digits_out,
    volatile_out,
    event_view,
    meta_keys,
    names,
    norm,
)
from sandlot.api.v1alpha1 import SandboxEnvironment
from sandlot.kube import Kube, ensure
from sandlot.reconcile.desired import Credentials, Document, Inputs, StubSettings, desired_objects
from sandlot.reconcile.naming import sandbox_namespace
from tests.operator.conftest import PETSTORE, sandbox_spec
from tests.operator.test_malformed import MALFORMED

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]

NAMESPACES = "/api/v1/namespaces"
CM = "/api/v1/namespaces/{ns}/configmaps"
SECRETS = "/api/v1/namespaces/{ns}/secrets"
SERVICES = "/api/v1/namespaces/{ns}/services"
EVENTS = "/api/v1/namespaces/{ns}/events"
DEPLOYMENTS = "/apis/apps/v1/namespaces/{ns}/deployments"
JOBS = "/apis/batch/v1/namespaces/{ns}/jobs"
SBX = "/apis/sandlot.dev/v1alpha1/namespaces/{ns}/sandboxenvironments"
TENANTS = "/apis/sandlot.dev/v1alpha1/sandboxtenants"
SBX_API = "sandlot.dev/v1alpha1"
OWN = "own"  # the sandbox whose objects the operator's own calls write

_namespaces = itertools.count(1)
Scenario = Callable[[Backend, Transcript], None]


@pytest.fixture
def kube_emulator_enforce_crd_schemas() -> bool:
    return True  # the real apiserver always prunes, defaults and validates custom resources


def _established(release: Release) -> None:
    """Check that the chart's CRDs are the project's crds/ and are served (helm waits for neither)."""
    for path in sorted((REPO / "crds").glob("*.yaml")):
        assert path.read_text() == (REPO / "charts" / "sandlot" / "crds" / path.name).read_text(), path.name
        name = yaml.safe_load(path.read_text())["metadata"]["name"]
        deadline = time.monotonic() + EVENTUALLY_SECONDS
        while True:
            status, crd = release.plane.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            conditions = {c["type"]: c["status"] for c in ((crd or {}).get("status") or {}).get("conditions") or []}
            if status == 200 and conditions.get("Established") == "True":
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"CRD {name} not established on the control plane: {crd}")
            time.sleep(0.1)


def _clean_up(real: Backend) -> None:
    """Remove what a scenario left on the shared control plane: finalizers, its namespaces, its tenants."""
    ours = [n for n in names(real.get(NAMESPACES))
            if n == real.ns or n.startswith(f"{real.ns}-") or n == sandbox_namespace(real.ns, OWN)]
    for ns in ours:
        for path in (CM, SECRETS, SBX):
            listed = real.get(path.replace("{ns}", ns))
            for obj in (listed.body or {}).get("items") or []:
                if obj["metadata"].get("finalizers"):
                    real.merge(f"{path.replace('{ns}', ns)}/{obj['metadata']['name']}", {"metadata": {"finalizers": None}})
            if path == SBX:
                real.call("DELETE", path.replace("{ns}", ns))  # deletecollection: no operator may find them later
        real.delete(f"{NAMESPACES}/{ns}")
    for tenant in names(real.get(TENANTS)):
        if tenant.startswith(f"{real.ns}-"):
            real.delete(f"{TENANTS}/{tenant}")


def _wait_filled(real: Backend, ns: str) -> None:
    """Wait until kube-controller-manager has put kube-root-ca.crt and the default ServiceAccount into
    `ns`, as the emulator does at once: a listing taken before would differ only in timing."""
    deadline = time.monotonic() + EVENTUALLY_SECONDS
    while (real.get(f"{NAMESPACES}/{ns}/configmaps/kube-root-ca.crt").code != 200
           or real.get(f"{NAMESPACES}/{ns}/serviceaccounts/default").code != 200):
        if time.monotonic() > deadline:
            raise AssertionError(f"kube-controller-manager did not fill namespace {ns}")
        time.sleep(0.1)


@pytest.fixture
def backends(kube_emulator: KubeEmulator, sandlot_release: Release) -> Iterator[tuple[Backend, Backend]]:
    """Yield (emulator, kube-apiserver) backends, each with the namespace `diff-N` created."""
    _established(sandlot_release)
    plane = sandlot_release.plane
    ns = f"diff-{next(_namespaces)}"
    with httpx.Client(base_url=kube_emulator.url, timeout=30) as ours, \
            httpx.Client(base_url=plane.server, verify=plane.ssl_context(), timeout=30) as theirs:
        emulator, real = Backend("emulator", ours, ns), Backend("kube-apiserver", theirs, ns)
        emulator.kubeconfig, real.kubeconfig = kube_emulator.kubeconfig_path, plane.admin_kubeconfig
        for backend in (emulator, real):
            created = backend.post(NAMESPACES, {"metadata": {"name": ns}})
            assert created.code == 201, (backend.name, created)
        _wait_filled(real, ns)
        try:
            yield emulator, real
        finally:
            _clean_up(real)


@pytest.fixture
def compare(backends: tuple[Backend, Backend]) -> Callable[[Scenario], dict[str, Any]]:
    """Return a function that runs a scenario on both backends and fails on any difference.

    It returns the real server's transcript, so a test can also pin what the real server did.
    """
    def run(scenario: Scenario) -> dict[str, Any]:
        seen = {}
        for backend in backends:
            transcript = Transcript()
            scenario(backend, transcript)
            seen[backend.name] = transcript.seen
        found = list(differences(seen["emulator"], seen["kube-apiserver"]))
        if found:
            pytest.fail(f"{len(found)} difference(s) between the emulator and kube-apiserver:\n" + "\n".join(found),
                        pytrace=False)
        return seen["kube-apiserver"]

    return run


def configmap(name: str, labels: dict[str, str] | None = None, **metadata: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, **({"labels": labels} if labels else {}), **metadata}, "data": {"k": "v"}}


def sandbox(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": SBX_API, "kind": "SandboxEnvironment", "metadata": {"name": name},
            "spec": sandbox_spec(**spec)}


def deployment(name: str, image: str = "app:1") -> dict[str, Any]:
    containers = [{"name": "app", "image": image, "ports": [{"containerPort": 8080}],
                   "env": [{"name": "A", "value": "1"}]}, {"name": "sidecar", "image": "sidecar:1"}]
    return {"metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}}}


def job(name: str, image: str = "seed:1") -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"backoffLimit": 0, "template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "seed", "image": image}]}}}}


def unordered(status: dict[str, Any]) -> dict[str, Any]:
    """Return a 422 Status with its causes sorted: kube-apiserver lists a CRD's schema errors in map order."""
    found = dict(status)
    causes = (found.get("details") or {}).get("causes")
    if causes:
        found["details"] = {**found["details"], "causes": sorted(causes, key=lambda c: (c["field"], c["message"]))}
        head, _, listed = (found["message"] or "").partition(" is invalid: [")
        if listed:
            found["message"] = f"{head} is invalid: [" + ", ".join(sorted(
                f"{c['field']}: {c['message']}" for c in causes)) + "]"
    return found


def rv(answer: Answer) -> int:
    return int(answer.body["metadata"]["resourceVersion"])


# ----- create, get, list: server-filled metadata ------------------------------------------------------


def test_created_objects_get_the_same_server_filled_metadata(compare):
    def scenario(api: Backend, see: Transcript) -> None:
        cm = api.post(CM, configmap("one", {"tier": "web"}))
        see("ConfigMap create", (cm.code, norm(cm.body)))
        see("get returns what create returned", norm(api.get(f"{CM}/one").body) == norm(cm.body))
        generated = api.post(CM, {"metadata": {"generateName": "gen-"}})
        name = generated.body["metadata"]["name"]
        see("generateName", (generated.code, name.startswith("gen-"), len(name) - len("gen-")))
        listed = api.get(CM, labelSelector="tier")
        see("list", (listed.code, listed.body["kind"], listed.body["apiVersion"], sorted(listed.body["metadata"]),
                     names(listed)))
        see("a list's resourceVersion is not older than the last write", rv(listed) >= rv(generated))
        api.post(SBX, sandbox("listed"))
        see("list items carry kind and apiVersion", {
            path: [(item.get("kind"), item.get("apiVersion")) for item in api.get(path).body["items"]][:1]
            for path in (CM, SBX)})
        see("resourceVersion grows with each write", rv(generated) > rv(cm))
        secret = api.post(SECRETS, {"metadata": {"name": "creds"}, "stringData": {"apiKey": "k1"},
                                    "data": {"adminToken": base64.b64encode(b"t1").decode()}})
        see("Secret stringData becomes data", (secret.code, secret.body.get("data"), "stringData" in secret.body))
        see("Secret type", secret.body.get("type"))
        service = api.post(SERVICES, {"metadata": {"name": "web"},
                                      "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
        spec = service.body["spec"]
        see("Service clusterIP", (service.code, bool(spec.get("clusterIP")), spec.get("clusterIPs") == [spec["clusterIP"]],
                                  service.body.get("status")))
        namespace = api.post(NAMESPACES, {"metadata": {"name": f"{api.ns}-x"}})
        see("Namespace create", (namespace.code, norm(namespace.body)))
        bodies = {
            "ServiceAccount": ("/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "sa"}}),
            "ResourceQuota": ("/api/v1/namespaces/{ns}/resourcequotas",
                              {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "3"}}}),
            "LimitRange": ("/api/v1/namespaces/{ns}/limitranges", {"metadata": {"name": "l"}, "spec": {"limits": [
                {"type": "Container", "default": {"cpu": "100m"}}]}}),
            "Deployment": (DEPLOYMENTS, deployment("web")),
            "Job": (JOBS, job("seed")),
            "NetworkPolicy": ("/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
                              {"metadata": {"name": "iso"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
            "SandboxEnvironment": (SBX, sandbox("sbx")),
            "SandboxTenant": (TENANTS, {"apiVersion": SBX_API, "kind": "SandboxTenant",
                                        "metadata": {"name": f"{api.ns}-tenant"}, "spec": {}}),
        }
        for kind, (path, body) in bodies.items():
            created = api.post(path, body)
            see(f"{kind} create: metadata keys", (created.code, meta_keys(created.body)))
            see(f"{kind} create: generation", created.body["metadata"].get("generation"))
            if kind == "Job":
                spec = created.body["spec"]
                see("Job: generated selector and labels", (
                    sorted(spec["selector"]["matchLabels"]), sorted(spec["template"]["metadata"]["labels"]),
                    sorted(created.body["metadata"]["labels"]),
                    spec["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"] == created.body["metadata"]["uid"]))

    compare(scenario)


# ----- custom resources: structural schema -------------------------------------------------------------


def test_custom_resources_are_pruned_and_defaulted_alike(compare):
    def scenario(api: Backend, see: Transcript) -> None:
        body = sandbox("pruned")
        body["stray"] = True
        body["status"] = {"phase": "Ready"}
        body["spec"]["app"]["colour"] = "blue"
        body["spec"]["downstreams"][0]["extra"] = 1
        body["spec"]["app"].pop("port")
        del body["spec"]["ttl"]
        created = api.post(SBX, body)
        see("SandboxEnvironment pruned and defaulted", (created.code, norm(created.body)))
        tenant = api.post(TENANTS, {"apiVersion": SBX_API, "kind": "SandboxTenant",
                                    "metadata": {"name": f"{api.ns}-t"}, "spec": {"unknown": 1}})
        see("SandboxTenant pruned and defaulted", (tenant.code, norm(tenant.body)))
        nulls = api.post(SBX, {**sandbox("nulls"), "spec": {**sandbox_spec(), "ttl": None, "onExpiry": None}})
        see("nulls in non-nullable fields take the default", (nulls.code, norm(nulls.body).get("spec")))

    compare(scenario)


def test_malformed_specs_are_refused_with_the_same_status(compare):
    def scenario(api: Backend, see: Transcript) -> None:
        for i, (override, field) in enumerate(MALFORMED):
            answer = api.post(SBX, sandbox(f"bad-{i}", **override))
            see(f"malformed {i} ({field})", unordered(answer.status))
        several = api.post(SBX, sandbox("several", ttl="5x", onExpiry="Forever",
                                        app={"image": "has space", "port": 70000}))
        see("several errors in one spec", unordered(several.status))

    real = compare(scenario)
    assert all(v["code"] == 422 for k, v in real.items() if "colour" not in k)


def test_names_and_labels_are_validated_alike(compare):
    def scenario(api: Backend, see: Transcript) -> None:
        see("ConfigMap name not a subdomain", api.post(CM, configmap("Bad_Name")).status)
        see("Namespace name too long", api.post(NAMESPACES, {"metadata": {"name": "n" * 64}}).status)
        see("Service name not a label", api.post(SERVICES, {"metadata": {"name": "a.b"}, "spec": {
            "ports": [{"port": 80}]}}).status)
        see("label key", api.post(CM, configmap("k", {"bad key": "v"})).status)
        see("label value", api.post(CM, configmap("v", {"k": "bad value!"})).status)
        see("annotation not a string", api.post(CM, configmap("a", annotations={"n": 1})).status)
        see("no name", api.post(CM, {"metadata": {}}).status)
        see("namespace in body differs from the URL", api.post(CM, configmap("m", namespace="other")).status)
        malformed = api.call("POST", CM, "{not json").status
        see("malformed JSON", (malformed["code"], malformed["reason"]))  # the message is Go's JSON decoder's

    compare(scenario)


# ----- status subresource, generation, no-op writes --------------------------------------------------


def test_the_status_subresource_and_generation_behave_alike(compare):
    def scenario(api: Backend, see: Transcript) -> None:
        path = f"{SBX}/gen"
        created = api.post(SBX, {**sandbox("gen"), "status": {"phase": "Sneaky"}})
        see("create drops status", (created.code, "status" in created.body, created.body["metadata"]["generation"]))
        labelled = api.merge(path, {"metadata": {"labels": {"a": "b"}}})
        see("a label change keeps the generation", (labelled.code, labelled.body["metadata"]["generation"],
                                                    rv(labelled) > rv(created)))
        changed = api.merge(path, {"spec": {"ttl": "3h"}, "status": {"phase": "Sneaky"}})
        see("a spec change bumps the generation; status is ignored on the main resource",
            (changed.code, changed.body["metadata"]["generation"], changed.body.get("status")))
        status = api.merge(f"{path}/status", {"status": {"phase": "Ready", "kopf": {"progress": {}}},
                                              "spec": {"ttl": "9h"}, "metadata": {"labels": {"c": "d"}}})
        see("a /status patch changes only status", (status.code, status.body["spec"]["ttl"],
                                                   status.body["metadata"].get("labels"), status.body.get("status"),
                                                   status.body["metadata"]["generation"]))
        same = api.merge(f"{path}/status", {"status": {"phase": "Ready"}})
        see("a no-op patch keeps the resourceVersion", (same.code, rv(same) == rv(status)))
        see("GET /status returns the whole object", norm(api.get(f"{path}/status").body) == norm(same.body))
        stale = {**status.body, "status": {"phase": "Failed"}}
        stale["metadata"] = {**stale["metadata"], "resourceVersion": str(rv(created))}
        see("a stale PUT on /status", api.put(f"{path}/status", stale).status)
        current = api.get(path).body
        without_rv = {k: v for k, v in current.items() if k != "metadata"}
        without_rv["metadata"] = {"name": "gen"}
        see("a PUT of a custom resource without resourceVersion", api.put(path, without_rv).status)
        current["spec"]["ttl"] = "4h"
        replaced = api.put(path, current)
        see("a PUT with the current resourceVersion", (replaced.code, replaced.body["metadata"]["generation"]))
        dep = api.post(DEPLOYMENTS, deployment("web"))
        relabelled = api.merge(f"{DEPLOYMENTS}/web", {"metadata": {"labels": {"x": "y"}}})
        rescaled = api.merge(f"{DEPLOYMENTS}/web", {"spec": {"replicas": 2}})
        see("Deployment generation", (dep.body["metadata"]["generation"], relabelled.body["metadata"]["generation"],
                                      rescaled.body["metadata"]["generation"]))
        tenant = api.post(TENANTS, {"apiVersion": SBX_API, "kind": "SandboxTenant",
                                    "metadata": {"name": f"{api.ns}-t"}, "spec": {"maxSandboxes": 2}})
        tenant_status = api.merge(f"{TENANTS}/{api.ns}-t/status", {"status": {"sandboxes": 1}})
        see("a cluster-scoped custom resource's status", (tenant.code, tenant_status.code,
                                                          tenant_status.body.get("status")))

    compare(scenario)


# ----- optimistic concurrency, patch types, error bodies ---------------------------------------------------


def test_conflicts_patch_types_and_error_bodies_are_alike(compare):
    def scenario(api: Backend, see: Transcript) -> None:
        path = f"{CM}/r"
        created = api.post(CM, configmap("r"))
        see("create a duplicate", api.post(CM, configmap("r")).status)
        see("get a missing object", api.get(f"{CM}/ghost").status)
        see("create in a missing namespace", api.post("/api/v1/namespaces/nowhere/configmaps", configmap("x")).status)
        see("get a missing custom resource", api.get(f"{SBX}/ghost").status)
        see("patch a missing object", api.merge(f"{CM}/ghost", {"data": {"a": "b"}}).status)
        see("delete a missing object", api.delete(f"{CM}/ghost").status)
        body = {**created.body, "data": {"k": "new"}}
        replaced = api.put(path, body)
        see("PUT with the current resourceVersion", (replaced.code, replaced.body["data"], rv(replaced) > rv(created)))
        see("PUT with a stale resourceVersion", api.put(path, body).status)
        see("merge patch carrying a stale resourceVersion",
            api.merge(path, {"metadata": {"resourceVersion": str(rv(created))}, "data": {"k": "x"}}).status)
        fresh = api.merge(path, {"metadata": {"resourceVersion": str(rv(replaced))}, "data": {"k": "y"}})
        see("merge patch carrying the current resourceVersion", (fresh.code, fresh.body["data"]))
        unconditional = api.put(path, {"metadata": {"name": "r"}, "data": {"k": "z"}})
        see("PUT of a ConfigMap without resourceVersion", (unconditional.code, unconditional.body.get("data")))
        see("PUT with another name", api.put(path, {"metadata": {"name": "other"}, "data": {}}).status)
        current = str(rv(unconditional))
        finalize = [{"op": "test", "path": "/metadata/resourceVersion", "value": current},
                    {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/hold"]}]
        added = api.json_patch(path, finalize)
        see("kopf's JSON patch: test resourceVersion, add a finalizer",
            (added.code, added.body["metadata"].get("finalizers")))
        see("kopf's JSON patch with a stale resourceVersion", api.json_patch(path, finalize).status)
        see("a JSON patch removing a missing path",
            api.json_patch(path, [{"op": "remove", "path": "/data/absent"}]).status)
        removed = api.json_patch(path, [{"op": "remove", "path": "/metadata/finalizers"}])
        see("a JSON patch removing the finalizers", (removed.code, "finalizers" in removed.body["metadata"]))
        strategic = api.strategic(path, {"data": {"k": None, "n": "1"}})
        see("a strategic merge patch on a ConfigMap", (strategic.code, strategic.body.get("data")))
        see("a strategic merge patch on a custom resource",
            {k: v for k, v in api.strategic(f"{SBX}/ghost", {"spec": {}}).status.items() if k != "message"})
        see("a merge patch that is not an object", api.merge(path, [1]).status["code"])
        see("delete with a stale uid precondition", volatile_out(
            api.delete(path, {"preconditions": {"uid": "00000000-0000-0000-0000-000000000001"}}).status))
        see("delete with a stale resourceVersion precondition", volatile_out(
            api.delete(path, {"preconditions": {"resourceVersion": str(rv(created))}}).status))
        deleted = api.delete(path)
        see("delete answer of a built-in", (deleted.code, norm(deleted.body)))
        api.post(SBX, sandbox("doomed"))
        gone = api.delete(f"{SBX}/doomed")
        see("delete answer of a custom resource", (gone.code, gone.body.get("kind"), meta_keys(gone.body)))

    compare(scenario)


def test_strategic_merge_patches_of_deployments_merge_lists_alike(compare):
    def scenario(api: Backend, see: Transcript) -> None:
        api.post(DEPLOYMENTS, deployment("web"))
        patch = {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "2"}]}]}}}}
        patched = api.strategic(f"{DEPLOYMENTS}/web", patch)
        containers = patched.body["spec"]["template"]["spec"]["containers"]
        see("containers merged by name, env by name",
            (patched.code, [(c["name"], c["image"], [e["name"] for e in c.get("env", [])],
                             [p["containerPort"] for p in c.get("ports", [])]) for c in containers]))
        removal = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}
        removed = api.strategic(f"{DEPLOYMENTS}/web", removal)
        see("$patch: delete", [c["name"] for c in removed.body["spec"]["template"]["spec"]["containers"]])
        merged = api.merge(f"{DEPLOYMENTS}/web", {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:3"}]}}}})
        see("a merge patch replaces the list", [(c["name"], c["image"], "env" in c)
                                                 for c in merged.body["spec"]["template"]["spec"]["containers"]])

    compare(scenario)


# ----- selectors, pages, watches ------------------------------------------------------------------------


def test_selectors_and_pages_select_alike(compare):
    def scenario(api: Backend, see: Transcript) -> None:
        api.post(CM, configmap("a", {"tier": "web", "env": "prod"}))
        api.post(CM, configmap("b", {"tier": "db"}))
        api.post(CM, configmap("c", {"other": "x"}))
        for selector in ("tier=web", "tier==db", "tier!=web", "tier in (web, db),env", "tier notin (web)", "!tier",
                         "tier", "other"):
            see(f"labelSelector {selector}", names(api.get(CM, labelSelector=selector)))
        for selector in ("metadata.name=b", "metadata.name!=b,metadata.namespace={ns}", "metadata.name==c"):
            see(f"fieldSelector {selector}", names(api.get(CM, fieldSelector=selector.format(ns=api.ns))))
        see("fieldSelector on an unsupported field", api.get(CM, fieldSelector="spec.nodeName=x").status)
        malformed = api.get(CM, labelSelector="a in b").status
        see("a malformed labelSelector", (malformed["code"], malformed["reason"]))
        see("a label selector across namespaces",
            [n for n in names(api.get("/api/v1/configmaps", labelSelector="tier")) if n in "abc"])
        first = api.get(CM, limit="2")
        see("first page", (names(first), "continue" in first.body["metadata"],
                           first.body["metadata"].get("remainingItemCount")))
        second = api.get(CM, limit="2", **{"continue": first.body["metadata"].get("continue", "")})
        see("second page", (names(second), second.body["metadata"].get("continue") or None,
                            second.body["metadata"].get("remainingItemCount")))
        see("an invalid continue token", api.get(CM, limit="2", **{"continue": "garbage"}).status["code"])

    compare(scenario)


def test_watches_replay_resume_and_expire_alike(compare):
    def scenario(api: Backend, see: Transcript) -> None:
        first = api.post(CM, configmap("w1", {"keep": "no"}))
        api.post(CM, configmap("w2"))
        api.merge(f"{CM}/w1", {"data": {"k": "changed"}, "metadata": {"labels": {"keep": "yes"}}})
        api.merge(f"{CM}/w1", {"metadata": {"labels": {"keep": "no"}}})
        api.delete(f"{CM}/w2")
        cr = api.post(SBX, sandbox("watched"))
        api.merge(f"{SBX}/watched/status", {"status": {"phase": "Ready"}})
        since = str(rv(first))
        # Every watch runs until its timeout, so they run at once.
        got = api.watches({
            "replay": (CM, {"resourceVersion": since}),
            "kopf": (CM, {"resourceVersion": since, "allowWatchBookmarks": "true"}),
            "filtered": (CM, {"resourceVersion": since, "labelSelector": "keep=yes"}),
            "by name": (CM, {"resourceVersion": since, "fieldSelector": "metadata.name=w2"}),
            "no version": (CM, {}),
            "version 0": (CM, {"resourceVersion": "0"}),
            "streamed": (CM, {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
                              "allowWatchBookmarks": "true"}),
            # A CRD's watch cache starts when the CRD is established: a watch from before is 410 Gone.
            "expired": (f"/apis/{SBX_API}/sandboxenvironments", {"resourceVersion": "1"}),
            "custom": (SBX, {"resourceVersion": str(rv(cr) - 1)}),
        })
        replay = got["replay"]
        see("replay from a resourceVersion", event_view(replay))
        versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in replay]
        see("replayed resourceVersions grow", versions == sorted(versions) and versions[0] > rv(first))
        see("replayed objects keep their state then", [e["object"].get("data") for e in replay])
        see("the DELETED event carries the last state", norm(replay[-1]["object"]))
        see("kopf's watch (bookmarks allowed)", event_view(got["kopf"]))
        see("a filtered watch sees objects enter and leave", event_view(got["filtered"]))
        see("a watch by metadata.name", event_view(got["by name"]))
        see("a watch without resourceVersion starts with ADDED", event_view(got["no version"]))
        see("a watch from resourceVersion 0 starts with ADDED", event_view(got["version 0"]))
        # Up to the bookmark that ends the initial events: the real server may add a periodic
        # bookmark later in the window (a documented difference: the emulator sends none).
        streamed = got["streamed"]
        ends = [i for i, e in enumerate(streamed) if e["type"] == "BOOKMARK"
                and (e["object"]["metadata"].get("annotations") or {}).get("k8s.io/initial-events-end")]
        streamed = streamed[:ends[0] + 1] if ends else streamed
        see("initial events end with a bookmark", [(e["type"], e["object"]["metadata"].get("name"),
                                                    e["object"]["metadata"].get("annotations"))
                                                   for e in streamed])
        bookmark = streamed[-1]["object"]
        see("the bookmark object", (bookmark.get("kind"), bookmark.get("apiVersion"), meta_keys(bookmark)))
        see("a watch from before the watch cache began", [
            (e["type"], e["object"].get("kind"), e["object"].get("code"), e["object"].get("reason"),
             digits_out(e["object"].get("message"))) for e in got["expired"]])
        see("a custom resource watch", [(e["type"], e["object"]["metadata"]["name"], e["object"].get("status"))
                                        for e in got["custom"] if e["type"] != "BOOKMARK"])

    compare(scenario)


# ----- deletion: finalizers, namespaces, garbage collection ----------------------------------------------


def test_finalizers_and_deletion_timestamps_behave_alike(compare):
    def scenario(api: Backend, see: Transcript) -> None:
        path = f"{CM}/held"
        created = api.post(CM, configmap("held", finalizers=["example.com/hold"]))
        deleting = api.delete(path)
        see("delete with a finalizer", (deleting.code, norm(deleting.body)))
        see("delete again", (api.delete(path).code, norm(api.get(path).body) == norm(deleting.body)))
        see("adding a finalizer while deleting",
            api.merge(path, {"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}}).status)
        see("changing data while deleting", api.merge(path, {"data": {"k": "late"}}).code)
        released = api.merge(path, {"metadata": {"finalizers": None}})
        see("removing the last finalizer", (released.code, norm(released.body)))
        see("then it is gone", api.get(path).code)
        events = api.watch(CM, resourceVersion=str(rv(created)))
        see("watch events", event_view(events))
        see("watched deletionTimestamp", [("deletionTimestamp" in e["object"]["metadata"],
                                           e["object"]["metadata"].get("finalizers")) for e in events])
        sbx = api.post(SBX, {**sandbox("held"), "metadata": {"name": "held", "finalizers": ["sandlot.dev/teardown"]}})
        cr_deleting = api.delete(f"{SBX}/held")
        see("delete a custom resource with a finalizer",
            (cr_deleting.code, cr_deleting.body.get("kind"), cr_deleting.body["metadata"]["generation"],
             cr_deleting.body["metadata"].get("deletionGracePeriodSeconds"), rv(cr_deleting) > rv(sbx)))
        status_while_deleting = api.merge(f"{SBX}/held/status", {"status": {"phase": "Terminating"}})
        see("status can still be written", (status_while_deleting.code, status_while_deleting.body.get("status")))
        cr_released = api.json_patch(f"{SBX}/held", [{"op": "remove", "path": "/metadata/finalizers"}])
        see("kopf releases its finalizer with a JSON patch", (cr_released.code, cr_released.body.get("kind")))
        see("then the custom resource is gone", api.get(f"{SBX}/held").code)

    compare(scenario)


def test_namespace_deletion_terminates_and_empties_it_alike(compare):
    def scenario(api: Backend, see: Transcript) -> None:
        ns = f"{api.ns}-doomed"
        api.post(NAMESPACES, {"metadata": {"name": ns}})
        api.post(CM.replace("{ns}", ns), configmap("plain", {"mine": "yes"}))
        api.post(SBX.replace("{ns}", ns), {**sandbox("held"), "metadata": {"name": "held",
                                                                          "finalizers": ["sandlot.dev/teardown"]}})
        deleting = api.delete(f"{NAMESPACES}/{ns}")
        see("the namespace's delete answer", (deleting.code, deleting.body["status"]["phase"],
                                              "deletionTimestamp" in deleting.body["metadata"],
                                              deleting.body["spec"]))
        api.eventually(lambda: api.gone(f"{CM.replace('{ns}', ns)}/plain"), "the ConfigMap to be deleted")
        held = api.eventually(lambda: (body := api.get(f"{SBX.replace('{ns}', ns)}/held").body)["metadata"].get(
            "deletionTimestamp") and body, "the held custom resource to be deleting")
        see("what has a finalizer is deleting, not gone", held["metadata"].get("finalizers"))
        namespace = api.get(f"{NAMESPACES}/{ns}").body
        see("the namespace is Terminating meanwhile", (namespace["status"]["phase"], namespace["spec"]))
        refused = api.post(CM.replace("{ns}", ns), configmap("late"))
        see("creating in a terminating namespace", refused.status)
        see("a label-selected list in it", names(api.get(CM.replace("{ns}", ns), labelSelector="mine")))
        api.merge(f"{SBX.replace('{ns}', ns)}/held", {"metadata": {"finalizers": None}})
        api.eventually(lambda: api.gone(f"{NAMESPACES}/{ns}"), "the namespace to be removed")
        see("a new namespace of the same name can be made", api.post(NAMESPACES, {"metadata": {"name": ns}}).code)

    compare(scenario)


def _owner_ref(owner: Answer, kind: str = "ConfigMap", api_version: str = "v1", **extra: Any) -> dict[str, Any]:
    meta = owner.body["metadata"]
    return {"apiVersion": api_version, "kind": kind, "name": meta["name"], "uid": meta["uid"], **extra}


def test_garbage_collection_of_dependents_is_alike(compare):
    def scenario(api: Backend, see: Transcript) -> None:
        owner = api.post(CM, configmap("owner"))
        ref = _owner_ref(owner)
        api.post(SECRETS, {"metadata": {"name": "dep", "ownerReferences": [ref]}})
        other = api.post(CM, configmap("other"))
        api.post(SECRETS, {"metadata": {"name": "two-owners", "ownerReferences": [ref, _owner_ref(other)]}})
        dangling = {**ref, "name": "ghost", "uid": "00000000-0000-0000-0000-000000000000"}
        api.post(SECRETS, {"metadata": {"name": "orphan", "ownerReferences": [dangling]}})
        api.eventually(lambda: api.gone(f"{SECRETS}/orphan"), "a dependent of a missing owner to be collected")
        api.post(SECRETS, {"metadata": {"name": "half", "ownerReferences": [ref, dangling]}})
        half = api.eventually(lambda: len(api.get(f"{SECRETS}/half").body["metadata"]["ownerReferences"]) == 1
                              and api.get(f"{SECRETS}/half").body, "the reference to the missing owner to be dropped")
        see("a reference to a missing owner is dropped", [r["name"] for r in half["metadata"]["ownerReferences"]])
        deleted = api.delete(f"{CM}/owner", {"propagationPolicy": "Background"})
        see("background deletion of the owner", deleted.code)
        api.eventually(lambda: api.gone(f"{SECRETS}/dep"), "the dependent to be collected")
        survivor = api.eventually(lambda: len(api.get(f"{SECRETS}/two-owners").body["metadata"].get(
            "ownerReferences") or []) == 1 and api.get(f"{SECRETS}/two-owners").body, "the gone owner's reference")
        see("a dependent with another live owner stays",
            [r["name"] for r in survivor["metadata"]["ownerReferences"]])
        keeper = api.post(CM, configmap("keeper"))
        api.post(SECRETS, {"metadata": {"name": "kept", "ownerReferences": [_owner_ref(keeper)]}})
        api.delete(f"{CM}/keeper", propagationPolicy="Orphan")
        api.eventually(lambda: api.gone(f"{CM}/keeper"), "the orphaning owner to go")
        kept = api.get(f"{SECRETS}/kept")
        see("Orphan keeps the dependent without the reference", (kept.code, kept.body["metadata"].get("ownerReferences")))

    compare(scenario)


def test_foreground_deletion_waits_for_blocking_dependents_alike(compare):
    def scenario(api: Backend, see: Transcript) -> None:
        owner = api.post(CM, configmap("fg"))
        api.post(SECRETS, {"metadata": {"name": "blocker", "finalizers": ["example.com/hold"],
                                        "ownerReferences": [_owner_ref(owner, blockOwnerDeletion=True)]}})
        api.post(SECRETS, {"metadata": {"name": "plain", "ownerReferences": [_owner_ref(owner)]}})
        deleting = api.delete(f"{CM}/fg", {"propagationPolicy": "Foreground"})
        see("foreground delete answer", (deleting.code, deleting.body.get("kind"),
                                         deleting.body["metadata"].get("finalizers"),
                                         "deletionTimestamp" in deleting.body["metadata"]))
        api.eventually(lambda: api.gone(f"{SECRETS}/plain"), "the plain dependent to be deleted")
        blocker = api.eventually(lambda: (b := api.get(f"{SECRETS}/blocker").body)["metadata"].get(
            "deletionTimestamp") and b, "the blocking dependent to be deleting")
        see("the blocking dependent is deleting", blocker["metadata"].get("finalizers"))
        waiting = api.get(f"{CM}/fg")
        see("the owner waits for it", (waiting.code, waiting.body["metadata"].get("finalizers")))
        api.merge(f"{SECRETS}/blocker", {"metadata": {"finalizers": None}})
        api.eventually(lambda: api.gone(f"{CM}/fg"), "the owner to go once its blocking dependent is gone")
        see("then the owner is gone", api.get(f"{CM}/fg").code)

    compare(scenario)


def test_owner_references_across_namespaces_and_scopes_alike(compare):
    def scenario(api: Backend, see: Transcript) -> None:
        owner = api.post(CM, configmap("home"))
        elsewhere = f"{api.ns}-elsewhere"
        api.post(NAMESPACES, {"metadata": {"name": elsewhere}})
        api.post(SECRETS.replace("{ns}", elsewhere), {"metadata": {"name": "cross",
                                                                    "ownerReferences": [_owner_ref(owner)]}})
        api.eventually(lambda: api.gone(f"{SECRETS.replace('{ns}', elsewhere)}/cross"),
                       "a dependent of an owner in another namespace to be collected")
        events = api.eventually(lambda: [e for e in api.get(EVENTS.replace("{ns}", elsewhere)).body["items"]
                                         if e["involvedObject"]["name"] == "cross"], "the garbage collector's Event")
        see("the garbage collector's Event", sorted({(e["type"], e["reason"], e["involvedObject"]["kind"])
                                                     for e in events}))

    compare(scenario)


# ----- Events, immutable fields, discovery ------------------------------------------------------------


def test_events_are_accepted_and_checked_alike(compare):
    def scenario(api: Backend, see: Transcript) -> None:
        now = "2026-12-01T00:00:00.000000+00:00"
        kopf_event = {"metadata": {"namespace": api.ns, "generateName": "kopf-event-"}, "action": "Action?",
                      "type": "Normal", "reason": "Logging", "message": "hello",
                      "reportingComponent": "kopf", "reportingInstance": "dev", "source": {"component": "kopf"},
                      "involvedObject": {"apiVersion": SBX_API, "kind": "SandboxEnvironment", "name": "x",
                                         "uid": "u", "namespace": api.ns},
                      "firstTimestamp": now, "lastTimestamp": now, "eventTime": now}
        posted = api.post(EVENTS, kopf_event)
        see("kopf's Event", (posted.code, {k: v for k, v in norm(posted.body).items()
                                           if k not in ("metadata", "eventTime", "firstTimestamp", "lastTimestamp")}))
        see("kopf's Event name", posted.body["metadata"]["name"].startswith("kopf-event-"))
        other = {**kopf_event, "involvedObject": {**kopf_event["involvedObject"], "namespace": "elsewhere"}}
        see("an Event about an object in another namespace", api.post(EVENTS, other).status)
        listed = api.get(EVENTS)
        see("Events are listed", [e["reason"] for e in listed.body["items"]])

    compare(scenario)


def test_immutable_fields_are_refused_alike(compare):
    def scenario(api: Backend, see: Transcript) -> None:
        def refusal(answer: Answer) -> tuple[Any, ...]:
            causes = (answer.body.get("details") or {}).get("causes") or [] if isinstance(answer.body, dict) else []
            return (answer.code, answer.body.get("reason") if isinstance(answer.body, dict) else None,
                    sorted((c.get("field"), c.get("reason"), (c.get("message") or "").rsplit(": ", 1)[-1])
                           for c in causes))

        api.post(JOBS, job("seed"))
        see("a Job's template", refusal(api.merge(f"{JOBS}/seed", {"spec": {"template": {"spec": {
            "containers": [{"name": "seed", "image": "seed:2"}]}}}})))
        see("a Job's labels stay mutable", api.merge(f"{JOBS}/seed", {"metadata": {"labels": {"ok": "yes"}}}).code)
        api.post(DEPLOYMENTS, deployment("web"))
        see("a Deployment's selector", refusal(api.merge(f"{DEPLOYMENTS}/web", {"spec": {
            "selector": {"matchLabels": {"app": "other"}}, "template": {"metadata": {"labels": {"app": "other"}}}}})))
        service = api.post(SERVICES, {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
        ip = service.body["spec"]["clusterIP"]
        other_ip = ip.rsplit(".", 1)[0] + ("." + str((int(ip.rsplit(".", 1)[1]) + 7) % 250 + 1))
        see("a Service's clusterIP", refusal(api.merge(f"{SERVICES}/web", {"spec": {"clusterIP": other_ip,
                                                                                    "clusterIPs": [other_ip]}})))
        replaced = api.put(f"{SERVICES}/web", {"metadata": {"name": "web", "labels": {"v": "2"}},
                                               "spec": {"ports": [{"port": 80}]}})
        see("a Service PUT without clusterIP keeps it",
            (replaced.code, replaced.body.get("spec", {}).get("clusterIP") == ip))
        api.post(SECRETS, {"metadata": {"name": "s"}, "type": "Opaque", "data": {}})
        see("a Secret's type", refusal(api.merge(f"{SECRETS}/s", {"type": "example.com/other"})))
        api.post(CM, {**configmap("frozen"), "immutable": True})
        see("an immutable ConfigMap's data", refusal(api.merge(f"{CM}/frozen", {"data": {"k": "thawed"}})))
        see("an immutable ConfigMap's flag", refusal(api.merge(f"{CM}/frozen", {"immutable": False})))
        see("an immutable ConfigMap's labels", api.merge(f"{CM}/frozen", {"metadata": {"labels": {"a": "b"}}}).code)

    compare(scenario)


def test_discovery_describes_the_served_resources_alike(compare, kube_emulator: KubeEmulator):
    served = {(t.group, t.versions[0], t.plural) for t in kube_emulator.catalog.types()
              if t.group not in ("kopf.dev", "zalando.org")}

    def scenario(api: Backend, see: Transcript) -> None:
        for group, version, plural in sorted(served):
            path = f"/api/{version}" if not group else f"/apis/{group}/{version}"
            resources = {r["name"]: r for r in api.get(path).body["resources"]}
            entry = resources.get(plural) or {}
            see(f"{path} {plural}", (entry.get("kind"), entry.get("namespaced"), sorted(entry.get("verbs") or []),
                                     entry.get("shortNames"), entry.get("singularName"), entry.get("categories"),
                                     f"{plural}/status" in resources))
        group = api.get("/apis/sandlot.dev").body
        see("the sandlot.dev group", (group["preferredVersion"], group["versions"]))
        see("the version", {k: api.get("/version").body.get(k) for k in ("major", "minor")})

    compare(scenario)


# ----- the differences that stay (docs/emulator.md lists them; if one goes, update the docs) ----------


def test_the_differences_that_stay_are_the_documented_ones(backends):
    emulator, real = backends
    # dryRun: kube-apiserver validates and stores nothing; the emulator refuses the request clearly.
    dry = real.post(CM, configmap("dry"), dryRun="All")
    assert dry.code == 201 and real.gone(f"{CM}/dry")
    refused = emulator.post(CM, configmap("dry"), dryRun="All")
    assert refused.code == 400 and "dryRun is not supported" in refused.body["message"]
    # Server-side apply: kube-apiserver applies; the emulator answers 415.
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", **configmap("applied")}
    applied = real.call("PATCH", f"{CM}/applied", manifest, content_type="application/apply-patch+yaml",
                        fieldManager="test")
    assert applied.code == 201 and applied.body["metadata"]["managedFields"][0]["manager"] == "test"
    assert emulator.call("PATCH", f"{CM}/applied", manifest, content_type="application/apply-patch+yaml",
                         fieldManager="test").code == 415
    # managedFields: kube-apiserver tracks field managers; the emulator keeps none.
    assert real.post(CM, configmap("tracked")).body["metadata"]["managedFields"]
    assert "managedFields" not in emulator.post(CM, configmap("tracked")).body["metadata"]
    # Defaulting of built-in specs: kube-apiserver fills them; the emulator stores them as sent.
    service = {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    real_spec, emu_spec = real.post(SERVICES, service).body["spec"], emulator.post(SERVICES, service).body["spec"]
    assert (real_spec["type"], real_spec["ports"][0]["protocol"], real_spec["ports"][0]["targetPort"]) == (
        "ClusterIP", "TCP", 80)
    assert "type" not in emu_spec and "protocol" not in emu_spec["ports"][0]
    real_dep, emu_dep = real.post(DEPLOYMENTS, deployment("web")).body, emulator.post(DEPLOYMENTS, deployment("web")).body
    assert real_dep["spec"]["strategy"]["type"] == "RollingUpdate" and "strategy" not in emu_dep["spec"]
    # Timestamps of Events are stored as sent by the emulator; kube-apiserver rounds them to seconds.
    event = {"metadata": {"name": "e"}, "reason": "R", "message": "m", "involvedObject": {"namespace": real.ns},
             "firstTimestamp": "2026-12-01T00:00:00.123456+00:00"}
    assert real.post(EVENTS, event).body["firstTimestamp"] == "2026-12-01T00:00:00Z"
    assert emulator.post(EVENTS, event).body["firstTimestamp"] == "2026-12-01T00:00:00.123456+00:00"
    # events.k8s.io/v1 Events are validated by kube-apiserver (reportingController, action ...), not by the emulator.
    new_event = {"metadata": {"name": "e2"}, "reason": "Done", "note": "hi", "eventTime": "2026-01-01T00:00:00.000000Z"}
    assert real.post(f"/apis/events.k8s.io/v1/namespaces/{real.ns}/events", new_event).code == 422
    assert emulator.post(f"/apis/events.k8s.io/v1/namespaces/{emulator.ns}/events", new_event).code == 201
    # Label selector syntax errors: both 400 BadRequest, in their own words.
    ours, theirs = emulator.get(CM, labelSelector="a in b").body, real.get(CM, labelSelector="a in b").body
    assert ours["reason"] == theirs["reason"] == "BadRequest" and ours["message"] != theirs["message"]


# ----- the operator's own calls -------------------------------------------------------------------------


def test_the_operators_own_writes_converge_alike(compare):
    """sandlot.kube.ensure() writes a sandbox's objects (create, replace, re-create of a Job) on both servers."""
    def scenario(api: Backend, see: Transcript) -> None:
        client = kubernetes.config.new_client_from_config(config_file=str(api.kubeconfig))
        kube = Kube(client)
        inputs = Inputs(cr_namespace=api.ns, cr_name=OWN, stub=StubSettings(image="ghcr.io/sandlot-dev/sandlot:test"),
                        specs={"pets": Document("openapi.yaml", PETSTORE)}, credentials=Credentials("key", "token"))

        def converge(**spec: Any) -> list[tuple[str, str, str]]:
            model = SandboxEnvironment.model_validate({"spec": sandbox_spec(**{"seed": {"job": {"image": "seed:1"}},
                                                                             **spec})})
            return [(o["kind"], o["metadata"]["name"], ensure(kube, o)) for o in desired_objects(model, inputs)]

        try:
            see("first pass", converge())
            see("second pass changes nothing", converge())
            see("an image change", converge(app={"image": "ghcr.io/acme/payments:2.0.0", "port": 8080}))
            outcomes = api.eventually(lambda: _recreated(converge, kube, api), "the seed Job to be re-created")
            see("a seed image change re-creates the Job", outcomes)
            ns = sandbox_namespace(api.ns, OWN)
            see("what is stored", sorted(
                (kind, o["metadata"]["name"], sorted(o["metadata"].get("labels") or {}),
                 sorted(o["metadata"].get("annotations") or {}))
                for kind in ("ConfigMap", "Service", "ServiceAccount", "ResourceQuota", "LimitRange", "Secret")
                for o in kube.list("v1", kind, ns, "app.kubernetes.io/managed-by=sandlot")))
            see("deleting the sandbox namespace", kube.delete("v1", "Namespace", ns))
        finally:
            client.close()

    compare(scenario)


def _recreated(converge: Callable[..., list[tuple[str, str, str]]], kube: Kube, api: Backend) -> Any:
    """Converge with a new seed image until no re-creation is pending (a Job takes a moment to go)."""
    from sandlot.kube import Recreating

    try:
        return converge(seed={"job": {"image": "seed:2"}})
    except Recreating:
        return None

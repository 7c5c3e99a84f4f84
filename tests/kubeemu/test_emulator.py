"""Check the Kubernetes API emulator over real HTTP with the official client, raw requests and real kopf.

Every test talks to a running emulator on 127.0.0.1 (the `kube_emulator`
fixture); the test CRDs are written to tmp_path as YAML, as the project's
crds/ will be. The last test runs a real kopf operator in-process against it.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import kubernetes
import kubernetes.watch
import pytest
import yaml
from kubernetes.client import CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from tests.kubeemu import KubeEmulator, kubeconfig_document
from tests.kubeemu.kopf_thread import running_kopf
from tests.kubeemu.selectors import SelectorError, parse_field_selector, parse_label_selector

pytest_plugins = ["tests.kubeemu.fixtures"]

GROUP, VERSION, PLURAL = "tests.kubeemu.dev", "v1", "widgets"
POLL_LIMIT_SECONDS = 30.0  # a ceiling for waiting on the operator, not an assertion about speed


def crd_document(group: str, kind: str, plural: str, scope: str = "Namespaced", status: bool = True) -> dict:
    """Return a minimal CustomResourceDefinition like the ones in the project's crds/."""
    version = {"name": "v1", "served": True, "storage": True,
               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
    if status:
        version["subresources"] = {"status": {}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": scope, "versions": [version],
                     "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "shortNames": ["wdg"]}}}


@pytest.fixture
def kube_emulator_crd_paths(tmp_path: Path) -> list[Path]:
    """Serve a test CRD (Widget, namespaced, with a status subresource) written as YAML."""
    path = tmp_path / "widgets.yaml"
    path.write_text(yaml.safe_dump(crd_document(GROUP, "Widget", PLURAL)))
    return [path]


@pytest.fixture
def core(kube_api_client) -> CoreV1Api:
    return CoreV1Api(kube_api_client)


@pytest.fixture
def custom(kube_api_client) -> CustomObjectsApi:
    return CustomObjectsApi(kube_api_client)


@pytest.fixture
def http(kube_emulator: KubeEmulator):
    """Yield a raw HTTP client for what the typed client hides (Status bodies, streams, patch types)."""
    with httpx.Client(base_url=kube_emulator.url, timeout=30) as client:
        yield client


def configmap(name: str, labels: dict | None = None, **metadata) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}, **metadata}, "data": {"k": "v"}}


def widget(name: str, **spec) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget", "metadata": {"name": name}, "spec": spec}


def status_of(error: ApiException) -> dict:
    return json.loads(error.body)


def watch_events(http: httpx.Client, path: str, **params) -> list[tuple[str, str, dict]]:
    """Return (type, name, object) of every event a watch sends before it ends (timeoutSeconds)."""
    params = {"watch": "true", "timeoutSeconds": "1", **params}
    with http.stream("GET", path, params=params) as response:
        assert response.status_code == 200
        lines = [json.loads(line) for line in response.iter_lines() if line.strip()]
    return [(e["type"], e["object"].get("metadata", {}).get("name"), e["object"]) for e in lines]


# ----- discovery ------------------------------------------------------------------------------------


def test_discovery_serves_builtins_and_the_crd_loaded_from_yaml(http: httpx.Client) -> None:
    core_resources = {r["name"]: r for r in http.get("/api/v1").json()["resources"]}
    assert core_resources["namespaces"]["namespaced"] is False
    assert core_resources["configmaps"]["namespaced"] is True and "watch" in core_resources["configmaps"]["verbs"]
    assert "namespaces/status" in core_resources
    groups = {g["name"] for g in http.get("/apis").json()["groups"]}
    assert {"apps", "batch", "networking.k8s.io", "events.k8s.io", "coordination.k8s.io",
            "apiextensions.k8s.io", "kopf.dev", "zalando.org", GROUP} <= groups
    assert http.get(f"/apis/{GROUP}").json()["preferredVersion"]["version"] == VERSION
    resources = {r["name"]: r for r in http.get(f"/apis/{GROUP}/{VERSION}").json()["resources"]}
    assert resources[PLURAL]["kind"] == "Widget" and resources[PLURAL]["shortNames"] == ["wdg"]
    assert resources[PLURAL]["namespaced"] is True and "widgets/status" in resources
    peerings = {r["name"]: r["namespaced"] for r in http.get("/apis/kopf.dev/v1").json()["resources"]}
    assert peerings == {"kopfpeerings": True, "clusterkopfpeerings": False}
    assert http.get("/apis/nothing.example.com/v1").status_code == 404


def test_a_crd_created_through_the_api_is_served_and_its_deletion_removes_its_objects(http: httpx.Client) -> None:
    crd = crd_document("gadgets.example.com", "Gadget", "gadgets", scope="Cluster", status=False)
    assert http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd).status_code == 201
    resources = http.get("/apis/gadgets.example.com/v1").json()["resources"]
    assert [(r["name"], r["namespaced"]) for r in resources] == [("gadgets", False)]
    created = http.post("/apis/gadgets.example.com/v1/gadgets", json={"metadata": {"name": "g1"}, "spec": {"a": 1}})
    assert created.status_code == 201 and "namespace" not in created.json()["metadata"]
    http.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.gadgets.example.com")
    assert http.get("/apis/gadgets.example.com/v1").status_code == 404
    assert http.get("/apis/gadgets.example.com/v1/gadgets/g1").status_code == 404


def test_the_projects_crds_load_and_the_quickstart_example_applies(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    crd_files = sorted((root / "crds").glob("*.yaml"))
    if not crd_files:
        pytest.skip("crds/ holds no CRD yet (generated by `sandlot crds`)")
    with KubeEmulator(crd_files, enforce_crd_schemas=True) as emulator, httpx.Client(base_url=emulator.url) as http:
        served = {}
        for doc in (d for f in crd_files for d in yaml.safe_load_all(f.read_text()) if d):
            spec = doc["spec"]
            version = spec["versions"][0]["name"]
            names = [r["name"] for r in http.get(f"/apis/{spec['group']}/{version}").json()["resources"]]
            assert spec["names"]["plural"] in names
            served[(f"{spec['group']}/{version}", spec["names"]["kind"])] = f"/apis/{spec['group']}/{version}/namespaces/default/{spec['names']['plural']}"
        example = root / "docs" / "examples" / "quickstart-sandbox.yaml"
        for doc in (d for d in yaml.safe_load_all(example.read_text()) if d) if example.is_file() else ():
            url = served.get((doc["apiVersion"], doc["kind"]), "/api/v1/namespaces/default/configmaps")
            answer = http.post(url, json=doc)
            assert answer.status_code == 201, f"{example.name}: {doc['kind']} refused: {answer.json().get('message')}"
            stored = answer.json()
            for key, value in (doc.get("spec") or {}).items():
                assert _kept(value, stored["spec"][key]), f"spec.{key} was pruned or changed by the CRD schema"


def _kept(applied: object, stored: object) -> bool:
    """Tell whether everything applied survived in what was stored (defaults may add fields)."""
    if isinstance(applied, dict):
        return isinstance(stored, dict) and all(k in stored and _kept(v, stored[k]) for k, v in applied.items())
    if isinstance(applied, list):
        return isinstance(stored, list) and len(applied) == len(stored) and all(
            _kept(a, s) for a, s in zip(applied, stored, strict=True))
    return applied == stored


GIZMO_SCHEMA = {"type": "object", "properties": {
    "spec": {"type": "object", "required": ["image"], "x-kubernetes-validations": [
        {"rule": "self.ttl != '0m'", "message": "ttl must not be zero"},
        {"rule": "self.port == oldSelf.port", "message": "transition rules are skipped"}], "properties": {
        "image": {"type": "string", "pattern": "^[^\\s]+$"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 8080},
        "ttl": {"type": "string", "default": "90m"},
        "mode": {"type": "string", "enum": ["a", "b"], "nullable": True},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "size": {"x-kubernetes-int-or-string": True},
        "parts": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                  "x-kubernetes-validations": [{"rule": "self.all(p, self.exists_one(q, q.name == p.name))",
                                                "message": "part names must be unique"}]}}},
    "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}


def test_custom_resources_are_pruned_defaulted_and_validated_by_their_schema(kube_emulator: KubeEmulator,
                                                                             http: httpx.Client, tmp_path: Path) -> None:
    crd = crd_document("example.com", "Gizmo", "gizmos")
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = GIZMO_SCHEMA
    (tmp_path / "gizmos.yaml").write_text(yaml.safe_dump(crd))
    kube_emulator.load_crds([tmp_path / "gizmos.yaml"])
    loose = http.post("/apis/example.com/v1/namespaces/default/gizmos", json={"metadata": {"name": "loose"}, "spec": {"x": 1}})
    assert loose.status_code == 201 and loose.json()["spec"] == {"x": 1}  # not enforced unless asked for
    kube_emulator.enforce_crd_schemas = True
    url = "/apis/example.com/v1/namespaces/default/gizmos"
    spec = {"image": "app:1", "unknown": 1, "labels": {"a": "b"}, "size": "50%", "port": None, "mode": None}
    created = http.post(url, json={"metadata": {"name": "g"}, "spec": spec, "stray": True})
    assert created.status_code == 201
    assert created.json()["spec"] == {"image": "app:1", "labels": {"a": "b"}, "size": "50%", "mode": None,
                                      "port": 8080, "ttl": "90m"}
    assert "stray" not in created.json()
    refused = http.post(url, json={"metadata": {"name": "bad"}, "spec": {"image": "has space", "port": 0, "mode": "c"}})
    assert refused.status_code == 422
    message = refused.json()["message"]
    assert message.startswith('Gizmo.example.com "bad" is invalid: [')
    assert "spec.image: Invalid value: \"has space\": spec.image in body should match" in message
    assert "spec.port: Invalid value: 0: spec.port in body should be greater than or equal to 1" in message
    assert 'spec.mode: Unsupported value: "c": supported values: "a", "b"' in message
    broken_rules = http.post(url, json={"metadata": {"name": "cel"}, "spec": {
        "image": "a", "ttl": "0m", "parts": [{"name": "x"}, {"name": "x"}]}}).json()["message"]
    assert "spec: Invalid value: ttl must not be zero" in broken_rules
    assert "spec.parts: Invalid value: part names must be unique" in broken_rules
    assert "transition" not in broken_rules
    missing = http.post(url, json={"metadata": {"name": "none"}, "spec": {"port": "80"}}).json()["message"]
    assert "spec.image: Required value" in missing and "spec.port in body must be of type integer" in missing
    status = http.patch(f"{url}/g/status", json={"status": {"phase": "Ready", "kopf": {"progress": {}}}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert status.status_code == 200 and status.json()["status"] == {"phase": "Ready"}  # unknown status pruned


# ----- create, read, update, delete --------------------------------------------------------------------


def test_create_fills_server_metadata_and_get_list_return_it(core: CoreV1Api) -> None:
    created = core.create_namespaced_config_map("default", configmap("one"))
    meta = created.metadata
    assert meta.namespace == "default" and meta.uid and meta.creation_timestamp
    assert meta.generation is None  # ConfigMaps carry no generation (Deployments, Jobs and custom resources do)
    assert int(meta.resource_version) > 0
    assert core.read_namespaced_config_map("one", "default").metadata.uid == meta.uid
    listed = core.list_namespaced_config_map("default")
    assert [cm.metadata.name for cm in listed.items] == ["kube-root-ca.crt", "one"]  # every namespace has the CA
    assert int(listed.metadata.resource_version) >= int(meta.resource_version)
    generated = core.create_namespaced_config_map("default", {"metadata": {"generateName": "gen-"}})
    assert generated.metadata.name.startswith("gen-") and len(generated.metadata.name) == len("gen-") + 5


def test_create_errors_are_status_objects(core: CoreV1Api) -> None:
    core.create_namespaced_config_map("default", configmap("dup"))
    with pytest.raises(ApiException) as duplicate:
        core.create_namespaced_config_map("default", configmap("dup"))
    assert duplicate.value.status == 409 and status_of(duplicate.value)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as missing:
        core.create_namespaced_config_map("nowhere", configmap("x"))
    body = status_of(missing.value)
    assert missing.value.status == 404
    assert (body["kind"], body["status"], body["reason"], body["code"]) == ("Status", "Failure", "NotFound", 404)
    assert "nowhere" in body["message"]
    with pytest.raises(ApiException) as bad_name:
        core.create_namespace({"metadata": {"name": "Not_A_DNS_Label"}})
    assert bad_name.value.status == 422 and "metadata.name" in status_of(bad_name.value)["message"]
    with pytest.raises(ApiException) as not_there:
        core.read_namespaced_config_map("ghost", "default")
    assert not_there.value.status == 404


def test_merge_and_json_patches_apply_and_a_failing_test_op_is_422(core: CoreV1Api, http: httpx.Client) -> None:
    first = core.create_namespaced_config_map("default", configmap("p"))
    patched = core.patch_namespaced_config_map("p", "default", {"data": {"extra": "1"}})
    assert patched.data == {"k": "v", "extra": "1"}
    assert int(patched.metadata.resource_version) > int(first.metadata.resource_version)
    url = "/api/v1/namespaces/default/configmaps/p"
    json_patch_type = {"Content-Type": "application/json-patch+json"}
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": patched.metadata.resource_version},
           {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/hold"]}]
    answer = http.patch(url, content=json.dumps(ops), headers=json_patch_type)
    assert answer.status_code == 200 and answer.json()["metadata"]["finalizers"] == ["example.com/hold"]
    stale = http.patch(url, content=json.dumps(ops), headers=json_patch_type)
    assert stale.status_code == 422 and stale.json()["kind"] == "Status"
    unset = [{"op": "test", "path": "/metadata/resourceVersion", "value": None}, ops[1]]
    assert http.patch(url, content=json.dumps(unset), headers=json_patch_type).status_code == 422
    strategic = http.patch(url, json={"data": {"k": None}}, headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert strategic.status_code == 200 and strategic.json()["data"] == {"extra": "1"}
    apply = http.patch(url, content="{}", headers={"Content-Type": "application/apply-patch+yaml"})
    assert apply.status_code == 415


def test_put_with_a_stale_resource_version_is_a_conflict(core: CoreV1Api) -> None:
    created = core.create_namespaced_config_map("default", configmap("r"))
    body = created.to_dict()
    body["metadata"] = {"name": "r", "resourceVersion": created.metadata.resource_version}
    body["data"] = {"k": "new"}
    replaced = core.replace_namespaced_config_map("r", "default", body)
    assert replaced.data == {"k": "new"} and replaced.metadata.uid == created.metadata.uid
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("r", "default", body)  # still carries the old version
    assert conflict.value.status == 409 and status_of(conflict.value)["reason"] == "Conflict"
    with pytest.raises(ApiException) as patch_conflict:
        core.patch_namespaced_config_map("r", "default", {"metadata": {"resourceVersion": "1"}, "data": {"k": "x"}})
    assert patch_conflict.value.status == 409


def deployment(name: str, image: str, replicas: int = 2) -> dict:
    containers = [{"name": "app", "image": image, "ports": [{"containerPort": 8080}], "env": [{"name": "A", "value": "1"}]},
                  {"name": "sidecar", "image": "sidecar:1"}]
    return {"metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}}}


def test_strategic_merge_patch_merges_lists_by_their_keys(kube_api_client, http: httpx.Client) -> None:
    apps = kubernetes.client.AppsV1Api(kube_api_client)
    apps.create_namespaced_deployment("default", deployment("web", "app:1"))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2", "env": [{"name": "B", "value": "2"}]}]}}}}
    patched = apps.patch_namespaced_deployment("web", "default", patch)  # the client sends a strategic merge patch
    app, sidecar = patched.spec.template.spec.containers
    assert (app.image, sidecar.image) == ("app:2", "sidecar:1")
    assert [e.name for e in app.env] == ["B", "A"]  # patched items first, as kube-apiserver orders them and app.ports[0].container_port == 8080
    assert patched.metadata.generation == 2
    removal = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}
    assert [c.name for c in apps.patch_namespaced_deployment("web", "default", removal).spec.template.spec.containers] == ["app"]
    custom_patch = http.patch(f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}/none", json={},
                              headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert custom_patch.status_code == 415  # custom resources do not take strategic merge patches


def test_immutable_fields_of_built_ins_refuse_changes(kube_api_client, core: CoreV1Api) -> None:
    apps, batch = kubernetes.client.AppsV1Api(kube_api_client), kubernetes.client.BatchV1Api(kube_api_client)
    apps.create_namespaced_deployment("default", deployment("fixed", "app:1"))
    with pytest.raises(ApiException) as selector:
        apps.patch_namespaced_deployment("fixed", "default", {"spec": {"selector": {"matchLabels": {"app": "other"}}}})
    assert selector.value.status == 422
    assert status_of(selector.value)["message"].startswith('Deployment.apps "fixed" is invalid: spec.selector: Invalid value:')
    job = {"metadata": {"name": "seed"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "seed", "image": "seed:1"}]}}}}
    batch.create_namespaced_job("default", job)
    with pytest.raises(ApiException) as template:
        batch.patch_namespaced_job("seed", "default", {"spec": {"template": {"spec": {"containers": [{"name": "seed", "image": "seed:2"}]}}}})
    assert template.value.status == 422 and "spec.template" in status_of(template.value)["message"]
    batch.patch_namespaced_job("seed", "default", {"metadata": {"labels": {"ok": "yes"}}})  # metadata stays mutable
    core.create_namespaced_config_map("default", {**configmap("frozen"), "immutable": True})
    with pytest.raises(ApiException) as frozen:
        core.patch_namespaced_config_map("frozen", "default", {"data": {"k": "thawed"}})
    assert frozen.value.status == 422 and "data" in status_of(frozen.value)["message"]


def test_put_on_a_custom_resource_needs_a_resource_version(custom: CustomObjectsApi) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("v", size=1))
    with pytest.raises(ApiException) as refused:
        custom.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "v", widget("v", size=2))
    assert refused.value.status == 422 and "resourceVersion" in status_of(refused.value)["message"]


def test_simulated_controllers_make_workloads_available_or_fail_on_unpullable_images(
        kube_api_client, kube_emulator: KubeEmulator) -> None:
    apps, batch = kubernetes.client.AppsV1Api(kube_api_client), kubernetes.client.BatchV1Api(kube_api_client)
    apps.create_namespaced_deployment("default", deployment("idle", "app:1"))
    assert apps.read_namespaced_deployment("idle", "default").status.available_replicas is None  # no controller
    kube_emulator.simulate_workloads(unpullable_images=["missing:1"])
    apps.create_namespaced_deployment("default", deployment("ready", "app:1", replicas=3))
    status = apps.read_namespaced_deployment("ready", "default").status
    assert (status.available_replicas, status.observed_generation) == (3, 1)
    apps.patch_namespaced_deployment("ready", "default", {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "missing:1"}]}}}})
    broken = apps.read_namespaced_deployment("ready", "default").status
    assert broken.observed_generation == 2 and broken.available_replicas is None
    assert {c.type: c.reason for c in broken.conditions} == {"Available": "MinimumReplicasUnavailable",
                                                             "Progressing": "ProgressDeadlineExceeded"}
    job = {"metadata": {"name": "seed"}, "spec": {"backoffLimit": 1, "template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "seed", "image": "seed:1"}]}}}}
    batch.create_namespaced_job("default", job)
    assert batch.read_namespaced_job("seed", "default").status.succeeded == 1


def test_generation_bumps_on_spec_changes_only_and_status_is_a_separate_subresource(custom: CustomObjectsApi) -> None:
    args = (GROUP, VERSION, "default", PLURAL)
    created = custom.create_namespaced_custom_object(*args, {**widget("w", size=1), "status": {"ignored": True}})
    assert created["metadata"]["generation"] == 1 and "status" not in created
    relabelled = custom.patch_namespaced_custom_object(*args, "w", {"metadata": {"labels": {"a": "b"}}})
    assert relabelled["metadata"]["generation"] == 1
    resized = custom.patch_namespaced_custom_object(*args, "w", {"spec": {"size": 2}, "status": {"phase": "Sneaky"}})
    assert resized["metadata"]["generation"] == 2 and "status" not in resized
    status = custom.patch_namespaced_custom_object_status(*args, "w", {"status": {"phase": "Ready"}, "spec": {"size": 9}})
    assert status["status"] == {"phase": "Ready"} and status["spec"] == {"size": 2}
    assert status["metadata"]["generation"] == 2
    unchanged = custom.patch_namespaced_custom_object(*args, "w", {"spec": {"size": 2}})
    assert unchanged["metadata"]["resourceVersion"] == status["metadata"]["resourceVersion"]  # a no-op write


# ----- deletion: finalizers, namespaces, garbage collection ---------------------------------------------


def test_finalizers_hold_an_object_until_the_last_one_is_removed(core: CoreV1Api, http: httpx.Client) -> None:
    created = core.create_namespaced_config_map("default", configmap("f", finalizers=["example.com/hold"]))
    core.delete_namespaced_config_map("f", "default")
    held = core.read_namespaced_config_map("f", "default")
    assert held.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as adding:
        core.patch_namespaced_config_map("f", "default", {"metadata": {"finalizers": ["example.com/hold", "more"]}})
    assert adding.value.status == 422
    core.patch_namespaced_config_map("f", "default", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("f", "default")
    assert gone.value.status == 404
    events = watch_events(http, "/api/v1/namespaces/default/configmaps", resourceVersion=created.metadata.resource_version)
    assert [(t, n) for t, n, _ in events] == [("MODIFIED", "f"), ("DELETED", "f")]


def test_a_deleted_namespace_terminates_until_everything_in_it_is_gone(core: CoreV1Api, custom: CustomObjectsApi,
                                                                       kube_emulator: KubeEmulator) -> None:
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", configmap("plain"))
    custom.create_namespaced_custom_object(GROUP, VERSION, "doomed", PLURAL,
                                           {**widget("held"), "metadata": {"name": "held", "finalizers": ["x/y"]}})
    core.delete_namespace("doomed")
    namespace = core.read_namespace("doomed")
    assert namespace.status.phase == "Terminating" and namespace.metadata.deletion_timestamp is not None
    assert [o["metadata"]["name"] for o in kube_emulator.objects(namespace="doomed")] == ["held"]
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_config_map("doomed", configmap("late"))
    assert refused.value.status == 403 and status_of(refused.value)["reason"] == "Forbidden"
    custom.patch_namespaced_custom_object(GROUP, VERSION, "doomed", PLURAL, "held", {"metadata": {"finalizers": []}})
    with pytest.raises(ApiException) as gone:
        core.read_namespace("doomed")
    assert gone.value.status == 404
    assert kube_emulator.objects(namespace="doomed") == []


def test_dependents_are_garbage_collected_with_their_owner(core: CoreV1Api) -> None:
    owner = core.create_namespaced_config_map("default", configmap("owner"))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    core.create_namespaced_secret("default", {"metadata": {"name": "dep", "ownerReferences": [ref]}})
    core.create_namespaced_secret("default", {"metadata": {"name": "kept", "ownerReferences": [ref]}})
    dangling = {**ref, "uid": "00000000-0000-0000-0000-000000000000"}
    core.create_namespaced_secret("default", {"metadata": {"name": "orphan", "ownerReferences": [dangling]}})
    with pytest.raises(ApiException):
        core.read_namespaced_secret("orphan", "default")  # an owner that does not exist: collected at once
    core.patch_namespaced_secret("kept", "default", {"metadata": {"ownerReferences": [ref, {**ref, "name": "other", "uid": "u2"}]}})
    assert [r.uid for r in core.read_namespaced_secret("kept", "default").metadata.owner_references] == [owner.metadata.uid]
    core.delete_namespaced_config_map("owner", "default")
    remaining = [s.metadata.name for s in core.list_namespaced_secret("default").items]
    assert "dep" not in remaining and "kept" not in remaining
    second = core.create_namespaced_config_map("default", configmap("owner2"))
    ref2 = {**ref, "name": "owner2", "uid": second.metadata.uid}
    core.create_namespaced_secret("default", {"metadata": {"name": "survivor", "ownerReferences": [ref2]}})
    core.delete_namespaced_config_map("owner2", "default", propagation_policy="Orphan")
    assert core.read_namespaced_secret("survivor", "default").metadata.owner_references is None


def test_owner_references_across_scopes_follow_the_garbage_collectors_rules(core: CoreV1Api, custom: CustomObjectsApi,
                                                                           kube_emulator: KubeEmulator) -> None:
    owner = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("sbx"))
    ref = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget", "name": "sbx", "uid": owner["metadata"]["uid"]}
    core.create_namespace({"metadata": {"name": "sbx-ns", "ownerReferences": [ref]}})
    core.create_namespaced_config_map("sbx-ns", configmap("elsewhere", ownerReferences=[ref]))
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("elsewhere", "sbx-ns")  # a namespaced owner in another namespace is absent
    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "sbx")
    assert core.read_namespace("sbx-ns").status.phase == "Active"  # cluster-scoped: unresolvable, never collected
    warned = {(e["involvedObject"]["name"], e["reason"]) for e in kube_emulator.objects("Event")}
    assert {("sbx-ns", "OwnerRefInvalidNamespace"), ("elsewhere", "OwnerRefInvalidNamespace")} <= warned


# ----- selectors and watches ---------------------------------------------------------------------------


def test_label_and_field_selectors_filter_lists(core: CoreV1Api, http: httpx.Client) -> None:
    core.create_namespaced_config_map("default", configmap("a", {"tier": "web", "env": "prod"}))
    core.create_namespaced_config_map("default", configmap("b", {"tier": "db"}))
    core.create_namespaced_config_map("default", configmap("c"))

    def names(**selectors) -> list[str]:
        return [cm.metadata.name for cm in core.list_namespaced_config_map("default", **selectors).items]

    assert names(label_selector="tier=web") == ["a"]
    assert names(label_selector="tier==db") == ["b"]
    assert names(label_selector="tier!=web") == ["b", "c", "kube-root-ca.crt"]
    assert names(label_selector="tier in (web, db),env") == ["a"]
    assert names(label_selector="tier notin (web)") == ["b", "c", "kube-root-ca.crt"]
    assert names(label_selector="!tier") == ["c", "kube-root-ca.crt"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b,metadata.namespace=default") == ["a", "c", "kube-root-ca.crt"]
    first_page = core.list_namespaced_config_map("default", limit=2)
    assert [cm.metadata.name for cm in first_page.items] == ["a", "b"] and first_page.metadata.remaining_item_count == 2
    second_page = core.list_namespaced_config_map("default", limit=2, _continue=first_page.metadata._continue)
    assert [cm.metadata.name for cm in second_page.items] == ["c", "kube-root-ca.crt"] and not second_page.metadata._continue
    all_namespaces = [cm.metadata.name for cm in core.list_config_map_for_all_namespaces(label_selector="tier").items]
    assert all_namespaces == ["a", "b"]
    bad = http.get("/api/v1/configmaps", params={"fieldSelector": "spec.nodeName=x"})
    assert bad.status_code == 400 and "spec.nodeName" in bad.json()["message"]


def test_selector_parsing_rejects_garbage() -> None:
    with pytest.raises(SelectorError):
        parse_label_selector("a in b")
    with pytest.raises(SelectorError):
        parse_field_selector("metadata.name")
    assert parse_label_selector("")({"metadata": {}})


def test_watch_replays_from_a_resource_version_and_ends_at_timeout(core: CoreV1Api, http: httpx.Client) -> None:
    first = core.create_namespaced_config_map("default", configmap("w1"))
    core.create_namespaced_config_map("default", configmap("w2"))
    core.patch_namespaced_config_map("w1", "default", {"data": {"k": "changed"}})
    core.delete_namespaced_config_map("w2", "default")
    events = watch_events(http, "/api/v1/namespaces/default/configmaps", resourceVersion=first.metadata.resource_version)
    assert [(t, n) for t, n, _ in events] == [("ADDED", "w2"), ("MODIFIED", "w1"), ("DELETED", "w2")]
    versions = [int(obj["metadata"]["resourceVersion"]) for _, _, obj in events]
    assert versions == sorted(versions) and versions[0] > int(first.metadata.resource_version)
    from_scratch = kubernetes.watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=1)
    assert [(e["type"], e["object"].metadata.name) for e in from_scratch] == [("ADDED", "kube-root-ca.crt"), ("ADDED", "w1")]  # the client's own watch


def test_replayed_events_keep_the_state_they_had_when_they_happened(core: CoreV1Api, custom: CustomObjectsApi,
                                                                    http: httpx.Client) -> None:
    created = core.create_namespaced_config_map("default", configmap("history"))
    core.patch_namespaced_config_map("history", "default", {"data": {"k": "later"}})
    widget_created = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("h", size=1))
    custom.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "h", {"spec": {"size": 2}})
    since = str(int(created.metadata.resource_version) - 1)
    added, modified = watch_events(http, "/api/v1/namespaces/default/configmaps", resourceVersion=since)
    assert added[2]["metadata"]["resourceVersion"] == created.metadata.resource_version
    assert (added[2]["data"], modified[2]["data"]) == ({"k": "v"}, {"k": "later"})
    first, second = watch_events(http, f"/apis/{GROUP}/{VERSION}/{PLURAL}", resourceVersion=since)
    assert first[2]["metadata"]["generation"] == 1 and second[2]["metadata"]["generation"] == 2
    assert first[2]["metadata"]["resourceVersion"] == widget_created["metadata"]["resourceVersion"]


def test_a_filtered_watch_sees_objects_enter_and_leave_its_selector(core: CoreV1Api, http: httpx.Client) -> None:
    start = core.create_namespaced_config_map("default", configmap("s", {"keep": "no"}))
    core.patch_namespaced_config_map("s", "default", {"metadata": {"labels": {"keep": "yes"}}})
    core.patch_namespaced_config_map("s", "default", {"metadata": {"labels": {"keep": "no"}}})
    events = watch_events(http, "/api/v1/configmaps", resourceVersion=start.metadata.resource_version,
                          labelSelector="keep=yes")
    assert [(t, n) for t, n, _ in events] == [("ADDED", "s"), ("DELETED", "s")]


async def test_a_live_watch_streams_new_events(kube_emulator: KubeEmulator) -> None:
    import aiohttp

    url = f"{kube_emulator.url}/apis/{GROUP}/{VERSION}/{PLURAL}?watch=true&timeoutSeconds=30&resourceVersion=0"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        async with session.post(f"{kube_emulator.url}/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}",
                                json=widget("live")) as created:
            assert created.status == 201
        line = await asyncio.wait_for(response.content.readline(), POLL_LIMIT_SECONDS)
    event = json.loads(line)
    assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "live"


def test_initial_events_end_with_a_bookmark_and_deletecollection_honours_selectors(core: CoreV1Api,
                                                                                    http: httpx.Client) -> None:
    core.create_namespaced_config_map("default", configmap("keep", {"tier": "db"}))
    core.create_namespaced_config_map("default", configmap("drop1", {"tier": "web"}))
    core.create_namespaced_config_map("default", configmap("drop2", {"tier": "web"}))
    events = watch_events(http, "/api/v1/namespaces/default/configmaps", sendInitialEvents="true",
                          resourceVersionMatch="NotOlderThan", allowWatchBookmarks="true")
    assert [(t, n) for t, n, _ in events][:4] == [("ADDED", "drop1"), ("ADDED", "drop2"), ("ADDED", "keep"),
                                                  ("ADDED", "kube-root-ca.crt")]
    bookmark = events[4]
    assert bookmark[0] == "BOOKMARK" and bookmark[2]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    core.delete_collection_namespaced_config_map("default", label_selector="tier=web")
    assert [cm.metadata.name for cm in core.list_namespaced_config_map("default").items] == ["keep", "kube-root-ca.crt"]


def test_a_watch_from_a_version_older_than_the_history_gets_410(tmp_path: Path) -> None:
    with KubeEmulator(history_size=3) as emulator, httpx.Client(base_url=emulator.url) as http:
        for index in range(5):
            http.post("/api/v1/namespaces/default/configmaps", json=configmap(f"h{index}"))
        events = watch_events(http, "/api/v1/configmaps", resourceVersion="1")
        assert len(events) == 1 and events[0][0] == "ERROR" and events[0][2]["code"] == 410
        client = kubernetes.config.new_client_from_config_dict(kubeconfig_document(emulator.url))
        with client, pytest.raises(ApiException) as gone:
            list(kubernetes.watch.Watch().stream(CoreV1Api(client).list_config_map_for_all_namespaces,
                                                 resource_version="1", timeout_seconds=1))
        assert gone.value.status == 410


# ----- events, observability, faults ------------------------------------------------------------------


def test_events_can_be_posted_in_both_api_groups(http: httpx.Client) -> None:
    core_event = {"metadata": {"generateName": "kopf-event-"}, "reason": "Logging", "message": "hi",
                  "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": "default"}}
    assert http.post("/api/v1/namespaces/default/events", json=core_event).status_code == 201
    new_event = {"metadata": {"name": "e1"}, "reason": "Done", "note": "hi", "eventTime": "2026-01-01T00:00:00.000000Z"}
    assert http.post("/apis/events.k8s.io/v1/namespaces/default/events", json=new_event).status_code == 201


def test_request_counts_and_injected_faults(core: CoreV1Api, kube_emulator: KubeEmulator) -> None:
    before = kube_emulator.write_count
    kube_emulator.inject_fault("create", "configmaps", code=500, times=1)
    with pytest.raises(ApiException) as injected:
        core.create_namespaced_config_map("default", configmap("flaky"))
    assert injected.value.status == 500
    core.create_namespaced_config_map("default", configmap("flaky"))
    core.read_namespaced_config_map("flaky", "default")
    assert kube_emulator.write_count == before + 2
    assert kube_emulator.request_counts["get"] >= 1
    assert kube_emulator.ledger.by_resource[("create", "configmaps")] == 2
    assert [o["metadata"]["name"] for o in kube_emulator.objects("cm", namespace="default")] == ["kube-root-ca.crt", "flaky"]


def test_an_emulator_bug_is_a_500_status_not_a_dropped_connection(kube_emulator: KubeEmulator, http: httpx.Client,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise KeyError("simulated bug")

    monkeypatch.setattr(kube_emulator.store, "get", broken)
    answer = http.get("/api/v1/namespaces/default/configmaps/x")
    assert answer.status_code == 500 and answer.json()["reason"] == "InternalError"
    assert "simulated bug" in answer.json()["message"]


def test_kubeconfig_loads_into_the_official_client(kube_emulator: KubeEmulator) -> None:
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(kube_emulator.kubeconfig_path), client_configuration=config)
    assert config.host == kube_emulator.url
    with kubernetes.client.ApiClient(config) as client:
        assert kubernetes.client.VersionApi(client).get_code().major == "1"


# ----- a real kopf operator against the emulator --------------------------------------------------------


def wait_for(condition, what: str):
    """Poll until condition() returns something truthy; fail naming `what` after the ceiling."""
    deadline = time.monotonic() + POLL_LIMIT_SECONDS
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    pytest.fail(f"gave up waiting for {what}")


def test_a_real_kopf_operator_handles_create_and_delete(kube_emulator: KubeEmulator, custom: CustomObjectsApi) -> None:
    import kopf

    registry = kopf.OperatorRegistry()
    deleted: list[str] = []

    @kopf.on.login(registry=registry)
    def login(**kwargs):
        return kopf.login_via_client(**kwargs)  # reads KUBECONFIG, set by the fixture

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_):
        settings.watching.server_timeout = 5

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry, id="greet")
    def greet(spec, body, **_):
        kopf.info(body, reason="Greeted", message=f"said hello to {spec['who']}")
        return {"greeting": f"hello {spec['who']}"}

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry, id="farewell")
    def farewell(name, **_):
        deleted.append(name)

    # With a peering object present, kopf announces itself in it (a merge patch on a status-less CR).
    custom.create_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", {"metadata": {"name": "default"}})
    with running_kopf(registry):
        wait_for(lambda: custom.get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", "default").get("status"),
                 "kopf to register itself in the peering object")
        custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("kw", who="world"))

        def handled():
            obj = custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "kw")
            return obj if (obj.get("status") or {}).get("greet") else None

        obj = wait_for(handled, "kopf's create handler to write its result into status")
        assert obj["status"]["greet"] == {"greeting": "hello world"}
        assert "kopf.zalando.org/KopfFinalizerMarker" in obj["metadata"]["finalizers"]
        custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "kw")

        def gone():
            try:
                custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "kw")
            except ApiException as exc:
                return exc.status == 404
            return False

        wait_for(gone, "kopf's delete handler to release its finalizer")
        assert deleted == ["kw"]

        def posted():
            return [e for e in kube_emulator.objects("Event", namespace="default")
                    if e.get("involvedObject", {}).get("name") == "kw" and e["reason"] == "Greeted"]

        wait_for(posted, "kopf to post the handler's event")  # kopf posts from a background queue
    # running_kopf has stopped kopf and checked that its thread ended without an error.

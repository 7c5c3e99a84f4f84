"""helm template of charts/sandlot/ with default and non-default values: what comes out.

Every rendered object is validated against the real Kubernetes schemas of 1.29 and 1.33
(kubernetes-validate --strict, bundled offline). Objects of kinds that come from CRDs
(ServiceMonitor, kopf's peerings) have no bundled schema and are skipped there, by name.
"""

from __future__ import annotations

import textwrap

import kubernetes_validate
import pytest
import yaml
from chart_render import CHART, NAMESPACE, RELEASE, by_kind, named, one, run_helm

KUBE_VERSIONS = ["1.29.0", "1.33.0"]
#: Kinds served by CRDs, not by Kubernetes itself: kubernetes-validate has no schema for them.
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("kopf.dev/v1", "ClusterKopfPeering"),
                ("kopf.dev/v1", "KopfPeering")}
APP_VERSION = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]

VALUE_SETS = {
    "defaults": {},
    "ha-servicemonitor-custom-image-namespaces": {
        "image": {"repository": "registry.example.com/platform/sandlot", "tag": "1.2.3"},
        "operator": {"watchNamespaces": ["team-a", "team-b"]},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
        "ha": {"enabled": True},
    },
    "ha-clusterwide-digest-existing-sa": {
        "image": {"digest": "sha256:" + "ab" * 32},
        "stub": {"image": {"repository": "registry.example.com/sandlot-stub", "tag": "9.9.9"}},
        "serviceAccount": {"create": False, "name": "platform-operator"},
        "ha": {"enabled": True, "replicas": 3},
    },
}


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values_name", sorted(VALUE_SETS))
def test_every_rendered_object_is_valid_kubernetes(render, values_name, kube_version):
    objects = render(VALUE_SETS[values_name], kube_version=kube_version, include_crds=True)
    checked = 0
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} is invalid for {kube_version}: {exc}")
        checked += 1
    assert checked >= 6, f"only {checked} objects validated; the chart renders less than expected"


def _container(objects: list[dict]) -> dict:
    return one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container["env"]}


def test_defaults_run_one_locked_down_operator(render):
    objects = render()
    deployment = one(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(objects)
    assert deployment["metadata"]["namespace"] == NAMESPACE
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert container["image"] == f"ghcr.io/sandlot-dev/sandlot:{APP_VERSION}"
    assert container["args"] == ["operator", "--health-port=8080", "--metrics-port=9090", "--wake-port=8081"]
    assert _env(container)["SANDLOT_STUB_IMAGE"]["value"] == container["image"]
    assert _env(container)["SANDLOT_WAKE_URL"]["value"] == f"http://{RELEASE}-wake.{NAMESPACE}.svc:8081"
    assert _env(container)["SANDLOT_OPERATOR_POD_LABELS"]["value"] == (
        "app.kubernetes.io/name=sandlot,app.kubernetes.io/instance=" + RELEASE + ",app.kubernetes.io/component=operator")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8080, "metrics": 9090, "wake": 8081}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"][0]["name"] == "tmp" and "emptyDir" in pod["volumes"][0]
    assert pod["serviceAccountName"] == RELEASE
    assert one(objects, "ServiceAccount")["metadata"]["name"] == RELEASE
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ClusterRole", "ClusterRole", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service",
                     "Service", "ServiceAccount"]


def test_metrics_and_wake_services_select_the_operator_pods(render):
    objects = render()
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    for name, port in ((f"{RELEASE}-metrics", 9090), (f"{RELEASE}-wake", 8081)):
        service = named(objects, "Service", name)
        assert service["spec"]["selector"].items() <= pod_labels.items()
        kind = name.rsplit("-", 1)[1]
        assert service["spec"]["ports"] == [{"name": kind, "port": port, "targetPort": kind, "protocol": "TCP"}]
    without = render({"wake": {"enabled": False}})
    assert [s["metadata"]["name"] for s in by_kind(without, "Service")] == [f"{RELEASE}-metrics"]
    assert "--wake-port=8081" not in _container(without)["args"] and "SANDLOT_WAKE_URL" not in _env(_container(without))


def test_binding_grants_the_role_to_the_operator_account(render):
    objects = render()
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == named(objects, "ClusterRole", RELEASE)["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}]


def test_ha_with_watch_namespaces_peers_per_namespace(render):
    objects = render(VALUE_SETS["ha-servicemonitor-custom-image-namespaces"])
    deployment = one(objects, "Deployment")
    container = _container(objects)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert container["args"] == ["operator", "--health-port=8080", "--metrics-port=9090", "--wake-port=8081",
                                 "--namespace=team-a", "--namespace=team-b", "--peering=sandlot"]
    assert container["image"] == "registry.example.com/platform/sandlot:1.2.3"
    assert _env(container)["SANDLOT_STUB_IMAGE"]["value"] == "registry.example.com/platform/sandlot:1.2.3"
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    peerings = by_kind(objects, "KopfPeering")
    assert [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in peerings] == [
        ("team-a", "sandlot"), ("team-b", "sandlot")]
    assert not by_kind(objects, "ClusterKopfPeering")
    crd_names = sorted(c["metadata"]["name"] for c in by_kind(objects, "CustomResourceDefinition"))
    assert crd_names == ["clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"]
    anti = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"][
        "topologyKey"] == "kubernetes.io/hostname"


def test_ha_peering_object_is_a_hook_helm_can_adopt_later(render):
    objects = render(VALUE_SETS["ha-clusterwide-digest-existing-sa"])
    peering = one(objects, "ClusterKopfPeering")
    annotations = peering["metadata"]["annotations"]
    # Without a cluster, lookup finds no peering CRD, so the object waits for it as a hook ...
    assert annotations["helm.sh/hook"] == "post-install,post-upgrade"
    # ... labelled and annotated so the next upgrade adopts it as a plain release object.
    assert annotations["meta.helm.sh/release-name"] == RELEASE
    assert annotations["meta.helm.sh/release-namespace"] == NAMESPACE
    assert peering["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert "--peering=sandlot" in _container(objects)["args"]
    assert one(objects, "Deployment")["spec"]["replicas"] == 3


def test_ha_peering_object_can_be_forced_plain_for_gitops(render):
    objects = render({"ha": {"enabled": True, "peeringObject": "plain"}})
    annotations = one(objects, "ClusterKopfPeering")["metadata"]["annotations"]
    assert "helm.sh/hook" not in annotations
    assert annotations["argocd.argoproj.io/sync-options"] == "SkipDryRunOnMissingResource=true"


def test_digest_stub_override_and_existing_service_account(render):
    objects = render(VALUE_SETS["ha-clusterwide-digest-existing-sa"])
    container = _container(objects)
    assert container["image"] == "ghcr.io/sandlot-dev/sandlot@sha256:" + "ab" * 32
    assert _env(container)["SANDLOT_STUB_IMAGE"]["value"] == "registry.example.com/sandlot-stub:9.9.9"
    assert not by_kind(objects, "ServiceAccount")
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "platform-operator"
    assert one(objects, "ClusterRoleBinding")["subjects"][0]["name"] == "platform-operator"


def test_servicemonitor_scrapes_the_metrics_service(render):
    objects = render(VALUE_SETS["ha-servicemonitor-custom-image-namespaces"])
    monitor = one(objects, "ServiceMonitor")
    service = named(objects, "Service", f"{RELEASE}-metrics")  # the wake Service has no `metrics` port to scrape
    assert [p["name"] for p in named(objects, "Service", f"{RELEASE}-wake")["spec"]["ports"]] == ["wake"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s",
                                             "scrapeTimeout": "10s"}]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}


def test_rbac_off_renders_no_operator_rbac(render):
    objects = render({"rbac": {"create": False}, "userRoles": {"create": False}})
    assert not by_kind(objects, "ClusterRole") and not by_kind(objects, "ClusterRoleBinding")
    user_roles_only = render({"rbac": {"create": False}})
    assert sorted(r["metadata"]["name"] for r in by_kind(user_roles_only, "ClusterRole")) == [
        f"{RELEASE}-edit", f"{RELEASE}-view"]


def test_extra_args_and_env_reach_the_container(render):
    objects = render({"operator": {"extraArgs": ["--verbose"], "extraEnv": [{"name": "A", "value": "1"}]}})
    container = _container(objects)
    assert container["args"][-1] == "--verbose"
    assert _env(container)["A"] == {"name": "A", "value": "1"}


def test_source_values_become_the_operators_source_settings(render):
    from sandlot.settings import OperatorSettings

    sources = {"allowedCIDRs": ["10.20.0.5/32", "fd00:1::/64"], "clusterCIDRs": ["2001:db8:42::/56"],
               "allowedURLs": ["https://specs.acme.example/"], "allowedS3": ["acme-specs/public/", "shared"],
               "allowedS3Endpoints": ["http://minio.storage:9000"], "requireAllowlist": True}
    env = {name: item["value"] for name, item in _env(_container(render({"sources": sources}))).items()
           if name.startswith(("SANDLOT_SOURCES_", "SANDLOT_CLUSTER_CIDRS"))}
    settings = OperatorSettings(**{name.removeprefix("SANDLOT_").lower(): value for name, value in env.items()})
    assert (settings.sources_allowed_cidrs, settings.cluster_cidrs, settings.sources_allowed_urls,
            settings.sources_allowed_s3, settings.sources_allowed_s3_endpoints, settings.sources_require_allowlist) == (
        sources["allowedCIDRs"], sources["clusterCIDRs"], sources["allowedURLs"], sources["allowedS3"],
        sources["allowedS3Endpoints"], True)
    defaults = {name: item.get("value") for name, item in _env(_container(render())).items()}
    assert defaults["SANDLOT_SOURCES_ALLOWED_CIDRS"] == "" and defaults["SANDLOT_SOURCES_REQUIRE_ALLOWLIST"] == "false"
    assert OperatorSettings(sources_allowed_cidrs="").sources_allowed_cidrs == []


def test_values_yaml_has_a_comment_on_every_value():
    lines = (CHART / "values.yaml").read_text().splitlines()
    uncommented = []
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("- "):
            continue
        previous = lines[number - 1].strip() if number else ""
        if not previous.startswith("#") and " # " not in line:
            uncommented.append(f"values.yaml:{number + 1}: {stripped}")
    assert not uncommented, "values without a comment:\n" + "\n".join(uncommented)


def test_notes_show_a_first_sandbox_the_models_accept(helm, tmp_path):
    from sandlot.api.v1alpha1 import SandboxEnvironment

    # `helm template` never renders NOTES.txt; a client-side dry-run install does, offline.
    done = run_helm(helm, ["install", RELEASE, str(CHART), "--dry-run=client", "--namespace", NAMESPACE,
                           "--kubeconfig", str(tmp_path / "no-cluster")])
    assert done.returncode == 0, done.stderr
    notes = done.stdout.split("NOTES:", 1)[1]
    heredoc = notes.split("<<'YAML'\n", 1)[1].split("\n   YAML\n", 1)[0]
    manifest = yaml.safe_load(textwrap.dedent(heredoc))
    sandbox = SandboxEnvironment.model_validate(manifest)
    assert sandbox.spec.downstreams[0].openapi.configMap.name == "petstore-openapi"
    assert f"kubectl wait --for=condition=Ready sbx/{manifest['metadata']['name']}" in notes
    assert f"kubectl delete sbx {manifest['metadata']['name']}" in notes

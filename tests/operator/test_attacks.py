"""Attack tests: what a tenant who may create SandboxEnvironments tries, on the real control plane.

Issue 15: the operator must not be a confused deputy. Each test plays a tenant (a person or CI
account that may create SandboxEnvironments in its own namespace) trying to make the operator
read, run, create, change, delete or adopt something with the operator's identity, network
position or cloud credentials, and proves it did not happen: the refused server saw no request,
the secret content appears nowhere in the cluster, the S3 proxy saw no request signed with the
wrong key, and a snapshot of every object the operator could write shows nothing changed
outside the sandbox's own namespace. kube-apiserver 1.36.3 with the chart installed by helm;
the in-process operator runs as the chart's ServiceAccount (its ClusterRole is what it may do).

Loopback servers stand in for what a tenant must not reach: 127.0.0.1 for the cloud metadata
endpoint, 127.0.0.2 for a host the platform opened with SANDLOT_SOURCES_ALLOWED_CIDRS. moto's
server (behind a proxy that records the access key of every signed request) stands in for S3.
docs/security.md lists each boundary and the test here that proves it.
"""

from __future__ import annotations

import base64
import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from kubernetes.client.exceptions import ApiException

from sandlot.reconcile.naming import sandbox_namespace
from tests.netservers import LoopbackServer, RecordingProxy, body, moto_server, redirect
from tests.operator.conftest import operators, PETSTORE, sandbox_spec
from tests.operator.harness import Cluster, OperatorRunner, wait_for
from tests.operator.stub_process import request, stub_process

pytestmark = pytest.mark.cluster
REAL_ONLY = pytest.mark.parametrize("cluster", [pytest.param("kube-apiserver", marks=pytest.mark.cluster)],
                                    indirect=True)
API = "sandlot.dev/v1alpha1"
#: What the operator's own AWS identity looks like in these tests (never used for a tenant unless opted in).
OPERATOR_AWS = {"AWS_ACCESS_KEY_ID": "AKIAOPERATOROWNKEY01", "AWS_SECRET_ACCESS_KEY": "operator-secret",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
#: Every kind the operator's ClusterRole lets it write: a change to any of them outside the sandbox shows here.
WATCHED = [("v1", "Namespace"), ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"), ("v1", "ServiceAccount"),
           ("v1", "ResourceQuota"), ("v1", "LimitRange"), ("apps/v1", "Deployment"), ("batch/v1", "Job"),
           ("networking.k8s.io/v1", "NetworkPolicy"), (API, "SandboxTenant")]
_tenants = itertools.count(1)


@pytest.fixture
def start_operator(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., OperatorRunner]]:
    """Return start(**settings): an in-process operator with the operator's AWS identity and these env settings."""
    with operators(monkeypatch, OPERATOR_AWS) as start:
        yield start


@pytest.fixture
def metadata() -> Iterator[LoopbackServer]:
    """A stand-in for the cloud metadata endpoint on 127.0.0.1, serving a unique secret."""
    secret = f"AKIA-METADATA-{uuid.uuid4().hex}"
    route = "/latest/meta-data/iam/security-credentials/node-role"
    with LoopbackServer("127.0.0.1", {route: body(f"openapi: 3.0.3\ninfo: {{title: '{secret}'}}\n")}) as server:
        server.secret = secret  # type: ignore[attr-defined]
        server.route = route  # type: ignore[attr-defined]
        yield server


def reason_of(cluster: Cluster, name: str, namespace: str | None = None) -> Callable[[], dict[str, Any] | None]:
    """Return a probe of a sandbox's Ready condition (for wait_for)."""
    return lambda: cluster.ready_condition(namespace or cluster.ns, name) or None


def wait_reason(cluster: Cluster, name: str, reason: str, namespace: str | None = None, timeout: float = 60) -> dict:
    """Wait until the sandbox's Ready condition has `reason`; return the condition."""
    return wait_for(lambda: (c := cluster.ready_condition(namespace or cluster.ns, name)).get("reason") == reason and c,
                    timeout=timeout, what=f"{name}: {reason}", details=reason_of(cluster, name, namespace))


def places_holding(cluster: Cluster, text: str, *, skip_namespaces: tuple[str, ...] = ()) -> list[str]:
    """Return every object (ConfigMaps, Secrets decoded, Events, Pods, SandboxEnvironments) whose content holds `text`."""
    found = []
    for kind in ("ConfigMap", "Secret", "Event", "Pod"):
        for obj in cluster.objects(kind):
            ns = obj["metadata"].get("namespace")
            if ns in skip_namespaces:
                continue
            content = json.dumps(obj)
            if kind == "Secret":
                content += "".join(base64.b64decode(v).decode("utf-8", "replace")
                                   for v in (obj.get("data") or {}).values())
            if text in content:
                found.append(f"{kind} {ns}/{obj['metadata']['name']}")
    for sbx in cluster.kube.list(API, "SandboxEnvironment"):
        if text in json.dumps(sbx):
            found.append(f"SandboxEnvironment {sbx['metadata']['namespace']}/{sbx['metadata']['name']}")
    return found


def snapshot(cluster: Cluster) -> dict[tuple[str, str, str], str]:
    """Return a fingerprint of every object of a WATCHED kind, keyed by (kind, namespace, name).

    The fingerprint is everything but status and server bookkeeping (resourceVersion,
    managedFields), so controllers updating status do not count as changes. Namespaces being
    deleted (left by earlier tests) are left out: the namespace controller empties them meanwhile.
    """
    terminating = {n["metadata"]["name"] for n in cluster.kube.list("v1", "Namespace")
                   if n["metadata"].get("deletionTimestamp")}
    prints = {}
    for api_version, kind in WATCHED:
        for obj in cluster.kube.list(api_version, kind):
            meta = obj["metadata"]
            if meta.get("namespace") in terminating or meta["name"] in terminating and kind == "Namespace":
                continue
            kept = {k: v for k, v in meta.items() if k not in ("resourceVersion", "managedFields", "generation")}
            content = {k: v for k, v in obj.items() if k not in ("status", "metadata")}
            prints[(kind, meta.get("namespace") or "", meta["name"])] = json.dumps([kept, content], sort_keys=True)
    return prints


def changes_outside(before: dict, after: dict, allowed: Callable[[tuple[str, str, str]], bool]) -> list[str]:
    """Return the objects created, changed or deleted between two snapshots that `allowed` does not excuse."""
    out = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key) and not allowed(key):
            verb = "created" if key not in before else "deleted" if key not in after else "changed"
            out.append(f"{verb} {key[0]} {key[1]}/{key[2]}")
    return out


def tenant(cluster: Cluster, name: str, spec: dict[str, Any]) -> None:
    cluster.kube.create({"apiVersion": API, "kind": "SandboxTenant", "metadata": {"name": name}, "spec": spec})


def namespace_exists(cluster: Cluster, name: str) -> bool:
    return cluster.kube.get("v1", "Namespace", name) is not None


# ----- sources: the metadata endpoint, redirects, the cluster's own networks ---------------------------------


@REAL_ONLY
def test_a_spec_url_at_the_metadata_endpoint_is_refused_and_its_content_is_nowhere(cluster, start_operator, metadata):
    start_operator()
    attempts = {
        "imds": metadata.url(metadata.route),
        "imds-by-name": metadata.url(metadata.route, host="localhost"),
        "apiserver-service": "https://10.96.0.1/openapi/v3",
    }
    for name, url in attempts.items():
        cluster.apply_sandbox(cluster.ns, name, sandbox_spec(downstreams=[
            {"name": "pets", "envVar": "PETS_API_URL", "openapi": {"url": url}}]))
    messages = {name: wait_reason(cluster, name, "SourceNotAllowed")["message"] for name in attempts}
    assert messages["imds"].startswith(f"spec.downstreams[0].openapi.url: {attempts['imds']}: 127.0.0.1 is a "
                                       "loopback address; the operator reads no loopback, link-local, private")
    assert "SANDLOT_SOURCES_ALLOWED_CIDRS" in messages["imds"]
    assert "localhost resolves to 127.0.0.1, which is a loopback address" in messages["imds-by-name"]
    # Learned from the API at start-up (the ServiceCIDR object), not configured.
    assert "10.96.0.1 is in the cluster's service network (ServiceCIDR kubernetes) (10.96.0.0/16)" \
        in messages["apiserver-service"]
    assert metadata.hits == []
    assert not any(namespace_exists(cluster, sandbox_namespace(cluster.ns, n)) for n in attempts)
    assert places_holding(cluster, metadata.secret) == []


@REAL_ONLY
def test_a_redirect_to_the_metadata_endpoint_is_refused_while_an_opened_host_is_read(cluster, start_operator,
                                                                                      metadata):
    start_operator(SANDLOT_SOURCES_ALLOWED_CIDRS="127.0.0.2/32")
    with LoopbackServer("127.0.0.2", {"/pets.yaml": body(PETSTORE)}) as specs:
        specs.routes["/latest.yaml"] = redirect(metadata.url(metadata.route))
        cluster.apply_sandbox(cluster.ns, "via-redirect", sandbox_spec(downstreams=[
            {"name": "pets", "envVar": "PETS_API_URL", "openapi": {"url": specs.url("/latest.yaml")}}]))
        cluster.apply_sandbox(cluster.ns, "opened", sandbox_spec(downstreams=[
            {"name": "pets", "envVar": "PETS_API_URL", "openapi": {"url": specs.url("/pets.yaml")}}]))
        cond = wait_reason(cluster, "via-redirect", "SourceNotAllowed")
        wait_reason(cluster, "opened", "Ready", timeout=90)
    assert f"it redirects to {metadata.url(metadata.route)}, where 127.0.0.1 is a loopback address" in cond["message"]
    assert metadata.hits == []
    assert "/latest.yaml" in specs.paths() and "/pets.yaml" in specs.paths()
    ns = sandbox_namespace(cluster.ns, "opened")
    assert cluster.kube.get("v1", "ConfigMap", "openapi-pets", ns)["data"]["pets.yaml"] == PETSTORE
    assert not namespace_exists(cluster, sandbox_namespace(cluster.ns, "via-redirect"))
    assert places_holding(cluster, metadata.secret) == []


# ----- S3: another tenant's objects, the operator's credentials, endpoints --------------------------------


@pytest.fixture
def s3() -> Iterator[tuple[Any, RecordingProxy]]:
    """Yield (admin S3 client of moto, the recording proxy tenants are pointed at)."""
    with moto_server() as moto, RecordingProxy(moto) as proxy:
        admin = boto3.client("s3", endpoint_url=moto, region_name="us-east-1", aws_access_key_id="AKIAADMIN",
                             aws_secret_access_key="admin")
        yield admin, proxy


def s3_downstream(bucket: str, key: str, endpoint: str, secret: str | None = None, **extra: Any) -> list[dict]:
    ref: dict[str, Any] = {"bucket": bucket, "key": key, "endpointUrl": endpoint, **extra}
    if secret:
        ref["secretRef"] = {"name": secret}
    return [{"name": "pets", "envVar": "PETS_API_URL", "openapi": {"s3": ref}}]


def aws_secret(cluster: Cluster, namespace: str, name: str, key_id: str) -> None:
    cluster.kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
                         "stringData": {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": "s3cr3t"}})


@REAL_ONLY
def test_another_tenants_s3_object_is_not_read_and_the_operators_credentials_are_not_lent(cluster, start_operator,
                                                                                           s3, metadata):
    admin, proxy = s3
    n = next(_tenants)
    team_a, team_b = f"{cluster.ns}-a", cluster.ns
    secret_a = f"openapi: 3.0.3\ninfo: {{title: 'TENANT-A-ONLY-{uuid.uuid4().hex}'}}\npaths: {{}}\n"
    admin.create_bucket(Bucket="tenant-a-fixtures")
    admin.put_object(Bucket="tenant-a-fixtures", Key="pets.yaml", Body=secret_a.encode())
    admin.create_bucket(Bucket="tenant-b-specs")
    admin.put_object(Bucket="tenant-b-specs", Key="pets/v1.yaml", Body=PETSTORE.encode())
    cluster.ensure_namespace(team_a)
    try:
        tenant(cluster, f"a-{n}", {"namespaces": [team_a], "allowedSources": {
            "s3": [{"bucket": "tenant-a-fixtures"}], "s3Endpoints": [proxy.url]}})
        tenant(cluster, f"b-{n}", {"namespaces": [team_b], "allowedSources": {
            "s3": [{"bucket": "tenant-b-specs", "prefix": "pets/"}], "s3Endpoints": [proxy.url]}})
        aws_secret(cluster, team_a, "a-creds", "AKIATENANTAKEY00001")
        aws_secret(cluster, team_b, "b-creds", "AKIATENANTBKEY00001")
        start_operator()
        attacks = {  # name -> (spec, the reason it must end in)
            "steal": (sandbox_spec(tenant=f"b-{n}", downstreams=s3_downstream(
                "tenant-a-fixtures", "pets.yaml", proxy.url, "b-creds")), "SourceNotAllowed"),
            "borrow-operator-keys": (sandbox_spec(tenant=f"b-{n}", downstreams=s3_downstream(
                "tenant-b-specs", "pets/v1.yaml", proxy.url)), "SourceNotAllowed"),
            "endpoint-at-metadata": (sandbox_spec(tenant=f"b-{n}", downstreams=s3_downstream(
                "tenant-b-specs", "pets/v1.yaml", metadata.url("/"), "b-creds")), "SourceNotAllowed"),
            "claim-tenant-a": (sandbox_spec(tenant=f"a-{n}", downstreams=s3_downstream(
                "tenant-a-fixtures", "pets.yaml", proxy.url, "b-creds")), "TenantNamespaceNotAllowed"),
            "no-tenant-at-all": (sandbox_spec(tenant=f"nobody-{n}", downstreams=s3_downstream(
                "tenant-a-fixtures", "pets.yaml", proxy.url, "b-creds")), "TenantNamespaceNotAllowed"),
        }
        for name, (spec, _) in attacks.items():
            cluster.apply_sandbox(team_b, name, spec)
        # A Secret of another namespace cannot even be named: the CRD refuses a namespace field
        # (fieldValidation=Strict, as kubectl sends it) and a name with a slash ...
        for ref in ({"name": "a-creds", "namespace": team_a}, {"name": f"{team_a}/a-creds"}):
            body_ = {"apiVersion": API, "kind": "SandboxEnvironment", "metadata": {"name": "cross", "namespace": team_b},
                     "spec": sandbox_spec(tenant=f"b-{n}", downstreams=s3_downstream(
                         "tenant-b-specs", "pets/v1.yaml", proxy.url, secretRef=ref))}
            with pytest.raises(ApiException) as refused:
                cluster.custom.create_namespaced_custom_object("sandlot.dev", "v1alpha1", team_b, "sandboxenvironments",
                                                               body_, field_validation="Strict")
            # 400 (strict decoding: unknown field) or 422 (the name's pattern), either naming the field
            assert refused.value.status in (400, 422), refused.value.body
            assert "secretRef" in refused.value.body
        # ... and where the namespace field is merely pruned, the name is looked up in the CR's own namespace.
        cluster.apply_sandbox(team_b, "cross", sandbox_spec(tenant=f"b-{n}", downstreams=s3_downstream(
            "tenant-b-specs", "pets/v1.yaml", proxy.url, secretRef={"name": "a-creds", "namespace": team_a})))
        cluster.apply_sandbox(team_b, "own", sandbox_spec(tenant=f"b-{n}", downstreams=s3_downstream(
            "tenant-b-specs", "pets/v1.yaml", proxy.url, "b-creds")))

        verdicts = {name: wait_reason(cluster, name, reason, team_b) for name, (_, reason) in attacks.items()}
        assert "s3://tenant-a-fixtures/pets.yaml is under none of the bucket/prefix pairs" in verdicts["steal"]["message"]
        assert "no credentials to read s3://tenant-b-specs/pets/v1.yaml" in verdicts["borrow-operator-keys"]["message"]
        assert f"{metadata.url('/')} is not an S3 endpoint tenant" in verdicts["endpoint-at-metadata"]["message"]
        assert f"belongs to tenant b-{n}, not 'a-{n}'" in verdicts["claim-tenant-a"]["message"]
        cross = wait_reason(cluster, "cross", "CredentialsSecretNotFound", team_b)
        assert f"Secret 'a-creds' not found in namespace '{team_b}'" in cross["message"]
        wait_reason(cluster, "own", "Ready", team_b, timeout=90)
        stored = cluster.kube.get("v1", "ConfigMap", "openapi-pets", sandbox_namespace(team_b, "own"))
        assert stored["data"]["v1.yaml"] == PETSTORE

        assert proxy.keys_used_for("/tenant-a-fixtures") == set()  # not one request for tenant A's bucket
        assert {f.access_key for f in proxy.forwarded} == {"AKIATENANTBKEY00001"}
        assert proxy.keys_used_for("/tenant-b-specs/pets/v1.yaml") == {"AKIATENANTBKEY00001"}
        assert metadata.hits == []
        assert places_holding(cluster, secret_a.split("'")[1]) == []
        for name in [*attacks, "cross"]:
            assert not namespace_exists(cluster, sandbox_namespace(team_b, name)), name
    finally:
        cluster.kube.delete("v1", "Namespace", team_a)


@REAL_ONLY
def test_the_operators_credentials_and_a_mapped_role_are_used_only_as_the_platform_says(cluster, start_operator, s3):
    admin, proxy = s3
    n = next(_tenants)
    admin.create_bucket(Bucket="shared-specs")
    admin.put_object(Bucket="shared-specs", Key="pets/v1.yaml", Body=PETSTORE.encode())
    admin.put_object(Bucket="shared-specs", Key="pets/v2.yaml", Body=PETSTORE.encode())
    admin.put_object(Bucket="shared-specs", Key="private/keys.yaml", Body=b"nope")
    allowed = {"s3": [{"bucket": "shared-specs", "prefix": "pets/"}], "s3Endpoints": [proxy.url]}
    tenant(cluster, f"opted-in-{n}", {"namespaces": [cluster.ns], "allowedSources": allowed,
                                      "s3Credentials": {"useOperatorCredentials": True}})
    start_operator(AWS_ENDPOINT_URL_STS=proxy.url)
    cluster.apply_sandbox(cluster.ns, "operator-keys", sandbox_spec(tenant=f"opted-in-{n}", downstreams=s3_downstream(
        "shared-specs", "pets/v1.yaml", proxy.url)))
    cluster.apply_sandbox(cluster.ns, "outside-the-pairs", sandbox_spec(tenant=f"opted-in-{n}",
                                                                        downstreams=s3_downstream(
        "shared-specs", "private/keys.yaml", proxy.url)))
    wait_reason(cluster, "operator-keys", "Ready", timeout=90)
    wait_reason(cluster, "outside-the-pairs", "SourceNotAllowed")
    assert proxy.keys_used_for("/shared-specs/pets/") == {OPERATOR_AWS["AWS_ACCESS_KEY_ID"]}
    assert proxy.keys_used_for("/shared-specs/private/") == set()

    # The platform maps a role instead: the operator assumes it (STS, signed with its own key)
    # and reads with the role's temporary key, not its own.
    role = "arn:aws:iam::123456789012:role/sandlot-payments"
    cluster.kube.patch(API, "SandboxTenant", f"opted-in-{n}", {"spec": {"s3Credentials": {
        "useOperatorCredentials": False, "roleArn": role}}})
    before = len(proxy.forwarded)
    # Its own object: the first sandbox's spec poll (pets/v1.yaml), in flight while the tenant
    # changes, is not this sandbox's read.
    cluster.apply_sandbox(cluster.ns, "mapped-role", sandbox_spec(tenant=f"opted-in-{n}", downstreams=s3_downstream(
        "shared-specs", "pets/v2.yaml", proxy.url)))
    wait_reason(cluster, "mapped-role", "Ready", timeout=90)
    later = proxy.forwarded[before:]
    sts = [f for f in later if f.method == "POST" and f.path == "/"]
    reads = [f for f in later if f.path == "/shared-specs/pets/v2.yaml"]
    assert sts and {f.access_key for f in sts} == {OPERATOR_AWS["AWS_ACCESS_KEY_ID"]}
    assert reads and all(f.access_key and f.access_key != OPERATOR_AWS["AWS_ACCESS_KEY_ID"] for f in reads)
    # The first sandbox, opted in before, is held to the new terms too: its next read of its
    # source (the tests' 2 s resync) is signed with the role's key, no longer the operator's.
    mark = len(proxy.forwarded)

    def next_read() -> Any:
        return next((f for f in proxy.forwarded[mark:] if f.path == "/shared-specs/pets/v1.yaml"), None)

    wait_for(next_read, what="the first sandbox's next read of its source", timeout=30)
    assert next_read().access_key != OPERATOR_AWS["AWS_ACCESS_KEY_ID"]


# ----- images ----------------------------------------------------------------------------------------------


@REAL_ONLY
def test_a_seed_image_from_a_disallowed_registry_is_refused_and_nothing_runs(cluster, start_operator):
    tenant(cluster, "payments", {"allowedRegistries": ["ghcr.io/acme/"]})
    start_operator()
    evil = "docker.io/evil/miner:1"
    cluster.apply_sandbox(cluster.ns, "evil-seed", sandbox_spec(seed={"job": {"image": evil}}))
    cluster.apply_sandbox(cluster.ns, "lookalike", sandbox_spec(seed={"job": {"image": "ghcr.io/acme-evil/seed:1"}}))
    cond = wait_reason(cluster, "evil-seed", "ImageNotAllowed")
    assert cond["message"] == ("spec.seed.job.image: 'docker.io/evil/miner:1' is not from a registry tenant "
                               "'payments' allows (ghcr.io/acme/); push the image there")
    assert "ghcr.io/acme-evil/seed:1" in wait_reason(cluster, "lookalike", "ImageNotAllowed")["message"]
    assert not namespace_exists(cluster, sandbox_namespace(cluster.ns, "evil-seed"))
    assert not any(c["image"] in (evil, "ghcr.io/acme-evil/seed:1") for job in cluster.kube.list("batch/v1", "Job")
                   for c in job["spec"]["template"]["spec"]["containers"])


# ----- nothing outside the sandbox namespace; no adoption -----------------------------------------------------

#: Strings that would escape their place if any template pasted them into YAML unquoted.
INJECTIONS = ['"}], "metadata": {"namespace": "kube-system"}, "x": [{"a": "',
              "x\nmetadata:\n  namespace: kube-system\n  name: coredns\n",
              "{{ namespace }}{% if true %}kube-system{% endif %}"]


@REAL_ONLY
def test_a_hostile_spec_changes_nothing_outside_its_own_sandbox_namespace(cluster, start_operator):
    start_operator()
    ns = sandbox_namespace(cluster.ns, "kube-system")
    spec = sandbox_spec(
        app={"image": "ghcr.io/acme/payments:1.0.0", "port": 8080,
             "env": [{"name": f"HOSTILE_{i}", "value": v} for i, v in enumerate(INJECTIONS)],
             "command": INJECTIONS[:1], "args": INJECTIONS, "readinessPath": "/" + INJECTIONS[1]},
        seed={"job": {"image": "ghcr.io/acme/seed:1", "command": INJECTIONS[1:2], "args": INJECTIONS}},
        network={"egress": [{"cidr": "203.0.113.0/24", "description": INJECTIONS[0][:200]}]})
    before = snapshot(cluster)
    cluster.apply_sandbox(cluster.ns, "kube-system", spec)  # named like the cluster's own namespace, on purpose
    wait_reason(cluster, "kube-system", "Ready", timeout=120)
    during = snapshot(cluster)
    app = cluster.kube.get("apps/v1", "Deployment", "app", ns)["spec"]["template"]["spec"]["containers"][0]
    assert [e["value"] for e in app["env"][:3]] == INJECTIONS and app["args"] == INJECTIONS  # data stayed data
    owned_elsewhere = [key for key, print_ in during.items() if '"sandlot.dev/owner": "' + cluster.ns + '/kube-system"'
                       in print_ and ns not in (key[1], key[2])]
    assert owned_elsewhere == [("Secret", cluster.ns, "kube-system-credentials")]
    cluster.delete_sandbox(cluster.ns, "kube-system")
    wait_for(lambda: cluster.sandbox(cluster.ns, "kube-system") is None, timeout=120, what="the CR gone")
    wait_for(lambda: not namespace_exists(cluster, ns), timeout=120, what="its namespace gone")
    wait_for(lambda: cluster.kube.get("v1", "Secret", "kube-system-credentials", cluster.ns) is None,
             what="the credentials copy collected")
    assert changes_outside(before, snapshot(cluster), lambda key: key[1] == ns or key == ("Namespace", "", ns)) == []


@REAL_ONLY
def test_a_namespace_or_secret_it_does_not_own_is_never_adopted_changed_or_deleted(cluster, start_operator):
    squatted = sandbox_namespace(cluster.ns, "squat")
    # A namespace that happens to have the sandbox's name, even one wearing sandlot's label.
    cluster.kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": squatted, "labels": {"app.kubernetes.io/managed-by": "sandlot"},
        "annotations": {"sandlot.dev/owner": "someone-else/theirs"}}})
    cluster.configmap(squatted, "their-data", {"k": "v"})
    # kube-controller-manager fills every new namespace on its own time: wait, so the snapshot
    # below holds its objects on a busy machine too.
    cluster.wait_namespace_filled(squatted)
    # A Secret of the team's own, named like the credentials copy of a sandbox "taken".
    cluster.kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "taken-credentials",
                         "namespace": cluster.ns}, "stringData": {"password": "theirs"}})
    try:
        before = snapshot(cluster)
        operator = start_operator()
        cluster.apply_sandbox(cluster.ns, "squat", sandbox_spec())
        cluster.apply_sandbox(cluster.ns, "taken", sandbox_spec())
        squat = wait_reason(cluster, "squat", "NamespaceConflict")
        assert f"namespace {squatted!r} exists and is not managed for this sandbox" in squat["message"]
        taken = wait_reason(cluster, "taken", "ObjectConflict")
        assert f"Secret {cluster.ns}/taken-credentials exists and was not made for this sandbox" in taken["message"]
        assert not namespace_exists(cluster, sandbox_namespace(cluster.ns, "taken"))  # nothing half-made
        for name in ("squat", "taken"):
            cluster.delete_sandbox(cluster.ns, name)
        wait_for(lambda: not cluster.kube.list(API, "SandboxEnvironment", cluster.ns), what="both CRs gone")
        operator.stop()
        start_operator()  # a restart's orphan sweep (done before it is ready) must not take it either
        assert changes_outside(before, snapshot(cluster), lambda key: False) == []
        live = cluster.kube.get("v1", "Namespace", squatted)
        assert live is not None and not live["metadata"].get("deletionTimestamp")
    finally:
        cluster.kube.delete("v1", "Namespace", squatted)


@REAL_ONLY
def test_a_configmap_of_another_namespace_cannot_be_named(cluster, start_operator):
    victim = f"{cluster.ns}-victim"
    secret = f"VICTIM-SPEC-{uuid.uuid4().hex}"
    cluster.configmap(victim, "pets-openapi", {"openapi.yaml": PETSTORE.replace("Pets", secret)})
    try:
        start_operator()
        for ref in ({"name": "pets-openapi", "key": "openapi.yaml", "namespace": victim},
                    {"name": f"{victim}/pets-openapi", "key": "openapi.yaml"}):
            body_ = {"apiVersion": API, "kind": "SandboxEnvironment",
                     "metadata": {"name": "cross", "namespace": cluster.ns},
                     "spec": sandbox_spec(downstreams=[{"name": "pets", "envVar": "PETS_API_URL",
                                                        "openapi": {"configMap": ref}}])}
            with pytest.raises(ApiException) as refused:
                cluster.custom.create_namespaced_custom_object("sandlot.dev", "v1alpha1", cluster.ns,
                                                               "sandboxenvironments", body_, field_validation="Strict")
            assert refused.value.status in (400, 422) and "configMap" in refused.value.body, refused.value.body
        cluster.kube.delete("v1", "ConfigMap", "pets-openapi", cluster.ns)  # the team's own copy is gone
        cluster.apply_sandbox(cluster.ns, "cross", sandbox_spec(downstreams=[{"name": "pets", "envVar": "PETS_API_URL",
                              "openapi": {"configMap": {"name": "pets-openapi", "key": "openapi.yaml",
                                                        "namespace": victim}}}]))
        cond = wait_reason(cluster, "cross", "ConfigMapNotFound")
        assert f"not found in namespace '{cluster.ns}'" in cond["message"]
        assert places_holding(cluster, secret, skip_namespaces=(victim,)) == []
    finally:
        cluster.kube.delete("v1", "Namespace", victim)


# ----- the stub's admin API ---------------------------------------------------------------------------------


@REAL_ONLY
def test_the_stub_admin_api_refuses_the_tenant_key_where_the_admin_token_is_required(cluster, start_operator,
                                                                                      tmp_path):
    start_operator()
    cluster.apply_sandbox(cluster.ns, "admin", sandbox_spec(seed={"job": {"image": "ghcr.io/acme/seed:1"}}))
    wait_reason(cluster, "admin", "Ready", timeout=120)
    ns = sandbox_namespace(cluster.ns, "admin")
    secret = cluster.kube.get("v1", "Secret", "sandlot-credentials", ns)
    creds = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    key, admin_token = creds["apiKey"], creds["adminToken"]

    # Only the stub holds the admin token: the app and the seed Job get the tenant key at most.
    for kind, name in (("Deployment", "app"), ("Job", "sandlot-seed")):
        obj = cluster.kube.get("apps/v1" if kind == "Deployment" else "batch/v1", kind, name, ns)
        refs = [(e.get("valueFrom") or {}).get("secretKeyRef", {}).get("key")
                for c in obj["spec"]["template"]["spec"]["containers"] for e in c.get("env") or []]
        assert "adminToken" not in refs, (kind, refs)
    assert admin_token not in json.dumps(cluster.objects("Pod", ns))

    stub = cluster.kube.get("apps/v1", "Deployment", "stub-pets", ns)
    spec_cm = cluster.kube.get("v1", "ConfigMap", "openapi-pets", ns)
    with stub_process(stub, {"sandlot-credentials": creds}, {"/spec": spec_cm["data"]}, tmp_path) as base:
        admin_only = [("GET", "/__sandlot/keys", None), ("POST", "/__sandlot/keys", {"tenant": "intruder"}),
                      ("GET", "/__sandlot/tenants", None), ("DELETE", "/__sandlot/keys/any", None)]
        for method, path, payload in admin_only:
            status, problem = request(base + path, key, method, payload)
            assert status == 403, (method, path, status, problem)
            assert request(base + path, None, method, payload)[0] == 401
        status, issued = request(base + "/__sandlot/keys", admin_token, "POST", {"tenant": "other"})
        assert status == 201 and issued["tenant"] == "other"
        assert request(base + "/__sandlot/tenants", admin_token)[0] == 200
        # Self-service stays: the key resets and reads its own tenant, never another.
        assert request(base + "/__sandlot/reset", key, "POST", {})[0] == 200
        assert request(base + "/__sandlot/requests", key)[0] == 200
        assert request(base + "/__sandlot/reset", key, "POST", {"tenant": "other"})[0] == 403
        assert request(base + "/__sandlot/requests?tenant=other", key)[0] == 403

"""Fixtures for the operator tests: a cluster handle on either backend, and a running operator.

`cluster` is parametrized: every operator scenario runs against the project's API emulator
(`[emulator]`) and against the real control plane with the chart installed (`[kube-apiserver]`,
marked `cluster`; skipped with the reason when Go is missing, failed when SANDLOT_REQUIRE_CLUSTER=1).
On the real control plane each test gets its own SandboxEnvironment namespace, the in-process
operator authenticates as the chart's ServiceAccount (so the chart's ClusterRole is what is
allowed), and what a test leaves behind is removed afterwards.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests.kubeemu.fixtures import point_clients_at
from tests.operator.harness import Cluster, OperatorRunner

BACKENDS = ["emulator", pytest.param("kube-apiserver", marks=pytest.mark.cluster)]
_namespaces = itertools.count(1)

PETSTORE = """openapi: 3.0.3
info: {title: Pets, version: '1'}
paths:
  /pets:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {type: array, items: {type: object, properties: {id: {type: integer}}}}
"""


@pytest.fixture(params=BACKENDS)
def cluster(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    """Yield a cluster handle with namespace `cluster.ns` holding the pets OpenAPI ConfigMap."""
    if request.param == "emulator":
        emulator = request.getfixturevalue("kube_emulator")
        c = Cluster(emulator.kubeconfig_path, emulator=emulator)
        c.operator_kubeconfig = emulator.kubeconfig_path
    else:
        release = request.getfixturevalue("sandlot_release")
        c = Cluster(release.plane.admin_kubeconfig, plane=release.plane, namespace=f"team-{next(_namespaces)}")
        c.operator_kubeconfig = release.operator_kubeconfig
        point_clients_at(release.operator_kubeconfig, monkeypatch)  # the operator is the chart's ServiceAccount
    c.ensure_namespace(c.ns)
    c.configmap(c.ns, "pets-openapi", {"openapi.yaml": PETSTORE})
    try:
        yield c
    finally:
        if c.plane is not None:
            remove_test_objects(c)
        c.close()


def remove_test_objects(c: Cluster) -> None:
    """Remove what a test left on the shared control plane: its sandboxes and every SandboxTenant
    (finalizers dropped), sandbox namespaces and its namespace. Nothing waits for namespaces to go."""
    api = "sandlot.dev/v1alpha1"
    for sbx in c.kube.list(api, "SandboxEnvironment"):
        meta = sbx["metadata"]
        if meta.get("finalizers"):
            c.kube.patch(api, "SandboxEnvironment", meta["name"], {"metadata": {"finalizers": None}},
                         namespace=meta["namespace"])
        c.kube.delete(api, "SandboxEnvironment", meta["name"], meta["namespace"])
    for ns in c.kube.list("v1", "Namespace", label_selector="app.kubernetes.io/managed-by=sandlot"):
        c.kube.delete("v1", "Namespace", ns["metadata"]["name"])
    c.kube.delete("v1", "Namespace", c.ns)
    for tenant in c.kube.list(api, "SandboxTenant"):  # kopf's finalizer (it runs a timer on each) goes too
        if tenant["metadata"].get("finalizers"):
            c.kube.patch(api, "SandboxTenant", tenant["metadata"]["name"], {"metadata": {"finalizers": None}})
        c.kube.delete(api, "SandboxTenant", tenant["metadata"]["name"])


@pytest.fixture
def operator(cluster) -> Iterator[OperatorRunner]:
    runner = OperatorRunner().start()
    try:
        yield runner
    finally:
        runner.stop()


@contextmanager
def operators(monkeypatch: pytest.MonkeyPatch, base: dict[str, str]) -> Iterator[Callable[..., OperatorRunner]]:
    """Yield start(**settings): starts an in-process operator with `base` and these env settings; stops every
    one started on exit."""
    runners: list[OperatorRunner] = []

    def start(**env: str) -> OperatorRunner:
        for name, value in {**base, **env}.items():
            monkeypatch.setenv(name, value)
        runners.append(OperatorRunner().start())
        return runners[-1]

    try:
        yield start
    finally:
        for runner in runners:
            runner.stop()


def sandbox_spec(**overrides) -> dict:
    """Return a valid SandboxEnvironment spec with one downstream, overridden by `overrides`."""
    spec = {
        "app": {"image": "ghcr.io/acme/payments:1.0.0", "port": 8080,
                "env": [{"name": "SANDBOX_MODE", "value": "true"}]},
        "downstreams": [{"name": "pets", "openapi": {"configMap": {"name": "pets-openapi", "key": "openapi.yaml"}},
                         "envVar": "PETS_API_URL"}],
        "ttl": "2h",
        "tenant": "payments",
    }
    spec.update(overrides)
    return spec

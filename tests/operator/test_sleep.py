"""Idle sleep and wake on the real control plane, with the stubs run for real where kwok only pretends.

The operator runs in-process as the chart's ServiceAccount; its stub client is the production
`HttpStubClient`, whose `resolve` maps each stub's in-cluster URL to a local `sandlot mock`
process started with the stub Deployment's own arguments (tests/operator/local_stubs.py). So
activity, the state snapshot and its restore go over real HTTP to the real stub program; what
is simulated is only where the process runs.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import kubernetes
import pytest

from sandlot.controller.stubs import HttpStubClient
from sandlot.controller.wake import WakeServer
from sandlot.kube import Kube
from sandlot.reconcile.naming import sandbox_namespace
from tests.operator.conftest import sandbox_spec
from tests.operator.harness import OperatorRunner, Repeating, wait_for
from tests.operator.local_stubs import LocalStubs
from tests.operator.test_tenants import _kubectl, make_tenant, phase, status, tenant_status
from tests.ports import free_port

pytestmark = pytest.mark.cluster
# Real only: scaling to zero is shown by the ReplicaSet controller and kwok removing the pods, and
# the wake goes through kubectl; the emulator runs no controllers.
REAL_ONLY = pytest.mark.parametrize("cluster", [pytest.param("kube-apiserver", marks=pytest.mark.cluster)],
                                    indirect=True)

PETS = """openapi: 3.0.3
info: {title: Pets, version: '1'}
paths:
  /pets:
    get:
      operationId: listPets
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {type: array, items: {$ref: '#/components/schemas/Pet'}}
    post:
      operationId: createPet
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Pet'}
      responses:
        '201':
          description: created
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Pet'}
  /pets/{petId}:
    get:
      operationId: getPet
      parameters:
        - {name: petId, in: path, required: true, schema: {type: string}}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Pet'}
        '404': {description: not found}
components:
  schemas:
    Pet:
      type: object
      required: [name]
      properties:
        id: {type: string, readOnly: true}
        name: {type: string}
"""


@pytest.fixture
def stubs(cluster) -> Iterator[LocalStubs]:
    local = LocalStubs(cluster.kube)
    try:
        yield local
    finally:
        local.close()


@pytest.fixture
def sleepy_operator(cluster, stubs) -> Iterator[OperatorRunner]:
    runner = OperatorRunner(stubs=HttpStubClient(timeout=5, resolve=stubs.resolve)).start()
    try:
        yield runner
    finally:
        runner.stop()


def crud_spec(**overrides) -> dict:
    return sandbox_spec(downstreams=[{"name": "pets", "envVar": "PETS_API_URL",
                                      "openapi": {"configMap": {"name": "pets-crud", "key": "openapi.yaml"}}}],
                        **overrides)


def replicas(cluster, ns: str) -> dict[str, int]:
    return {d["metadata"]["name"]: d["spec"]["replicas"] for d in cluster.kube.list("apps/v1", "Deployment", ns)}


def api_key(cluster, name: str) -> str:
    secret = cluster.kube.get("v1", "Secret", f"{name}-credentials", cluster.ns)
    return base64.b64decode(secret["data"]["apiKey"]).decode()


class Traffic(Repeating):
    """Send a request to a stub every `every` seconds from a thread, as a test suite would."""

    def __init__(self, url: str, key: str, every: float = 0.3) -> None:
        super().__init__(every)
        self.url, self.key = url, key
        self.sent = 0

    def step(self) -> None:
        httpx.get(self.url + "/pets", headers={"authorization": f"Bearer {self.key}"}, timeout=5)
        self.sent += 1


def _asleep(cluster, stubs: LocalStubs, name: str) -> None:
    """Wait until the operator put `name` to sleep and its pods are gone; then its stub process goes too."""
    ns = sandbox_namespace(cluster.ns, name)
    wait_for(lambda: phase(cluster, name) == "Sleeping", timeout=60, what=f"{name} asleep",
             details=lambda: status(cluster, name))
    wait_for(lambda: replicas(cluster, ns) == {"app": 0, "stub-pets": 0} and not cluster.objects("Pod", ns),
             what="the app and the stub scaled to zero, their pods gone")
    stubs.stop(ns, "pets")


def _awake_again(cluster, stubs: LocalStubs, name: str) -> None:
    """Wait for the stub Deployment to be scaled up, start its (empty) process, and wait for Ready."""
    ns = sandbox_namespace(cluster.ns, name)
    wait_for(lambda: replicas(cluster, ns) == {"app": 1, "stub-pets": 1}, what=f"{name} scaled back up")
    stubs.start(ns, "pets")
    wait_for(lambda: phase(cluster, name) == "Ready", timeout=60, what=f"{name} Ready again",
             details=lambda: status(cluster, name))


@REAL_ONLY
def test_an_idle_sandbox_sleeps_frees_its_seat_and_wakes_with_its_stub_state(cluster, stubs, sleepy_operator):
    cluster.configmap(cluster.ns, "pets-crud", {"openapi.yaml": PETS})
    make_tenant(cluster, "sleepy", maxSandboxes=1, idleAfter="3s")
    cluster.apply_sandbox(cluster.ns, "napper", crud_spec(tenant="sleepy"))
    ns = sandbox_namespace(cluster.ns, "napper")
    wait_for(lambda: phase(cluster, "napper") == "Ready", what="napper Ready")
    local = stubs.start(ns, "pets")
    key = api_key(cluster, "napper")
    auth = {"authorization": f"Bearer {key}"}
    pet = httpx.post(local + "/pets", headers=auth, json={"name": "Rex"})
    assert pet.status_code == 201
    cluster.apply_sandbox(cluster.ns, "waiter", crud_spec(tenant="sleepy"))
    wait_for(lambda: phase(cluster, "waiter") == "Queued", what="waiter queued behind napper")

    with Traffic(local, key) as traffic:  # requests keep it awake well past idleAfter
        wait_for(lambda: traffic.sent >= 20, what="twenty requests")
        assert phase(cluster, "napper") == "Ready"

    _asleep(cluster, stubs, "napper")
    st = status(cluster, "napper")
    assert st["restorePending"] == ["pets"] and st["sleepingSince"]
    cond = cluster.ready_condition(cluster.ns, "napper")
    assert cond["reason"] == "Sleeping" and "no request reached its stubs since" in cond["message"]
    assert f"kubectl annotate sbx napper -n {cluster.ns} sandlot.dev/wake=now" in cond["message"]
    assert cluster.kube.get("v1", "Secret", "sandlot-state-pets", ns) is not None
    assert cluster.managed(ns)  # everything else is kept
    assert "Sleeping" in cluster.event_reasons(cluster.ns)
    wait_for(lambda: phase(cluster, "waiter") in ("Provisioning", "Ready"), what="the seat went to waiter")
    figures = tenant_status(cluster, "sleepy")
    assert (figures["active"], figures["queued"], figures["sleeping"]) == (1, 0, 1)

    # Wake with kubectl while waiter holds the only seat: the wake waits in the queue.
    _kubectl(cluster, "annotate", "sbx", "napper", "-n", cluster.ns, "sandlot.dev/wake=now")
    cond = wait_for(lambda: (c := cluster.ready_condition(cluster.ns, "napper")).get("reason") == "Queued" and c,
                    what="the wake queued")
    assert status(cluster, "napper")["queuePosition"] == 1 and replicas(cluster, ns)["app"] == 0
    cluster.delete_sandbox(cluster.ns, "waiter")
    _awake_again(cluster, stubs, "napper")
    again = httpx.get(f"{stubs.url(ns, 'pets')}/pets/{pet.json()['id']}", headers=auth)
    assert again.status_code == 200 and again.json() == pet.json()  # the stub's state came back
    body = cluster.sandbox(cluster.ns, "napper")
    assert "sandlot.dev/wake" not in (body["metadata"].get("annotations") or {})
    assert not body["status"].get("sleepingSince") and not body["status"].get("restorePending")
    assert {"Waking", "Admitted"} <= cluster.event_reasons(cluster.ns)

    # Asleep again, then woken through the wake endpoint with the sandbox's own key.
    _asleep(cluster, stubs, "napper")
    client = kubernetes.config.new_client_from_config(config_file=str(cluster.operator_kubeconfig))
    server = WakeServer(Kube(client), free_port(), host="127.0.0.1").start()  # as the chart's ServiceAccount
    try:
        url = f"http://127.0.0.1:{server.port}/wake/{cluster.ns}/napper"
        assert httpx.post(url).status_code == 401
        assert httpx.post(url, headers={"authorization": "Bearer sk_sbx_wrong"}).status_code == 401
        answer = httpx.post(url, headers=auth)
        assert answer.status_code == 202 and answer.json()["wake"] == "requested"
        _awake_again(cluster, stubs, "napper")
        assert httpx.post(url, headers=auth).json()["wake"] == "not asleep"
    finally:
        server.stop()
        client.close()
    again = httpx.get(f"{stubs.url(ns, 'pets')}/pets/{pet.json()['id']}", headers=auth)
    assert again.status_code == 200


@REAL_ONLY
def test_a_sleeping_sandbox_still_ends_at_max_lifetime(cluster, stubs, sleepy_operator):
    cluster.configmap(cluster.ns, "pets-crud", {"openapi.yaml": PETS})
    make_tenant(cluster, "brief", idleAfter="2s", maxLifetime="25s")
    cluster.apply_sandbox(cluster.ns, "short", crud_spec(tenant="brief", ttl="1d"))
    ns = sandbox_namespace(cluster.ns, "short")
    wait_for(lambda: phase(cluster, "short") == "Ready", what="short Ready")
    stubs.start(ns, "pets")
    _asleep(cluster, stubs, "short")
    created = cluster.sandbox(cluster.ns, "short")["metadata"]["creationTimestamp"]
    assert status(cluster, "short")["expiresAt"] > created
    assert tenant_status(cluster, "brief")["sleeping"] == 1
    wait_for(lambda: cluster.sandbox(cluster.ns, "short") is None, timeout=90,
             what="deleted at maxLifetime although asleep")
    assert "Expired" in cluster.event_reasons(cluster.ns)
    wait_for(lambda: tenant_status(cluster, "brief").get("sleeping") == 0, what="the tenant counts no sleeper")


@REAL_ONLY
def test_a_sleeping_sandbox_follows_its_spec_and_wakes_on_the_new_version_with_its_state(cluster, stubs,
                                                                                         sleepy_operator):
    cluster.configmap(cluster.ns, "pets-crud", {"openapi.yaml": PETS})
    make_tenant(cluster, "dozy", idleAfter="3s")
    cluster.apply_sandbox(cluster.ns, "dozer", crud_spec(tenant="dozy"))
    ns = sandbox_namespace(cluster.ns, "dozer")
    wait_for(lambda: phase(cluster, "dozer") == "Ready", what="dozer Ready")
    local = stubs.start(ns, "pets")
    auth = {"authorization": f"Bearer {api_key(cluster, 'dozer')}"}
    pet = httpx.post(local + "/pets", headers=auth, json={"name": "Rex"})
    assert pet.status_code == 201
    assert httpx.get(local + "/owners", headers=auth).status_code == 404
    _asleep(cluster, stubs, "dozer")

    # A compatible new version while it sleeps: followed (the stub's ConfigMap), nothing woken.
    newer = PETS.replace("components:\n", "  /owners:\n    get:\n      operationId: listOwners\n      responses:\n"
                                          "        '200':\n          description: ok\n          content:\n"
                                          "            application/json:\n              schema: {type: array, "
                                          "items: {type: object, properties: {id: {type: string}}}}\n"
                                          "components:\n", 1)
    cluster.kube.patch("v1", "ConfigMap", "pets-crud", {"data": {"openapi.yaml": newer}}, namespace=cluster.ns)
    wait_for(lambda: (cluster.kube.get("v1", "ConfigMap", "openapi-pets", ns) or {}).get("data", {})
             .get("openapi.yaml") == newer, what="the new version written for the sleeping stub",
             details=lambda: status(cluster, "dozer"))
    wait_for(lambda: status(cluster, "dozer")["specs"]["pets"]["state"] == "Synced"
             and status(cluster, "dozer")["specs"]["pets"]["sourceDigest"]
             == status(cluster, "dozer")["specs"]["pets"]["digest"], what="status.specs synced")
    assert phase(cluster, "dozer") == "Sleeping" and replicas(cluster, ns) == {"app": 0, "stub-pets": 0}

    _kubectl(cluster, "annotate", "sbx", "dozer", "-n", cluster.ns, "sandlot.dev/wake=now")
    _awake_again(cluster, stubs, "dozer")
    url = stubs.url(ns, "pets")
    assert httpx.get(url + "/owners", headers=auth).status_code == 200  # the new version
    again = httpx.get(f"{url}/pets/{pet.json()['id']}", headers=auth)
    assert again.status_code == 200 and again.json() == pet.json()  # and the state it handed over

"""The stub Deployment the operator renders really starts `sandlot mock` and accepts the sandbox key.

Runs the rendered container's exact arguments and environment (Secret references resolved
from the rendered credentials Secret, volume paths mapped to a temporary folder) as a local
process on 127.0.0.1, with the example payments spec and fixtures from examples/payments/.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import yaml

from sandlot.api.v1alpha1 import SandboxEnvironment
from sandlot.reconcile.desired import Credentials, Document, Inputs, StubSettings, desired_objects, endpoints
from tests.operator.harness import wait_for
from tests.operator.stub_process import project, request, stub_process

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "payments"


def _configmap_data(name: str) -> dict[str, str]:
    return yaml.safe_load((EXAMPLE / name).read_text())["data"]


def endpoints_of(sbx: SandboxEnvironment) -> dict[str, str]:
    return endpoints(sbx, Inputs(cr_namespace="team", cr_name="checkout", stub=StubSettings("img")))


def test_rendered_stub_serves_the_spec_and_accepts_the_generated_key(tmp_path):
    manifests = list(yaml.safe_load_all((EXAMPLE / "sandbox.yaml").read_text()))
    sbx_doc = next(d for d in manifests if d and d.get("kind") == "SandboxEnvironment")
    sbx = SandboxEnvironment.model_validate(sbx_doc)
    spec_text = _configmap_data("payments-openapi.yaml")["openapi.yaml"]
    fixtures_text = _configmap_data("payments-fixtures.yaml")["fixtures.yaml"]
    key = "sk_sbx_" + "ab" * 32
    objs = desired_objects(sbx, Inputs(
        cr_namespace="team", cr_name="checkout", stub=StubSettings("img"),
        specs={"payments": Document("openapi.yaml", spec_text)},
        fixtures=Document("fixtures.yaml", fixtures_text), credentials=Credentials(key, "admin-secret")))
    stub = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "stub-payments")
    secret = next(o for o in objs if o["kind"] == "Secret")
    files = {"/spec": {"openapi.yaml": spec_text}, "/fixtures": {"fixtures.yaml": fixtures_text}}
    with stub_process(stub, {secret["metadata"]["name"]: secret["stringData"]}, files, tmp_path) as base:
        status, body = request(f"{base}/v1/customers", key)
        assert status == 200
        ids = [c["id"] for c in body["data"]]
        assert "cus_seed_ada" in ids  # fixtures loaded into the key's tenant
        assert request(f"{base}/v1/customers", None)[0] == 401
        assert request(f"{base}/v1/customers", "sk_sbx_" + "cd" * 32)[0] == 401
        # The journal and the inspector page (status.endpoints lists `payments.inspector`), kept
        # in the stub's state volume: the key sees its tenant's requests, the admin token all.
        status, journal = request(f"{base}/__sandlot/requests", key)
        assert status == 200 and [(e["status"], e["operation"]) for e in journal["requests"]] == \
            [(200, "listCustomers")]
        assert key not in json.dumps(journal)
        status, everyone = request(f"{base}/__sandlot/requests?status=401", "admin-secret")
        assert status == 200 and len(everyone["requests"]) == 2
        inspector = next(u for name, u in endpoints_of(sbx).items() if name == "payments.inspector")
        assert inspector.endswith(":4010/__sandlot/ui")
        with urllib.request.urlopen(f"{base}/__sandlot/ui", timeout=5) as page:
            assert page.status == 200 and b"Sandlot inspector" in page.read()


def test_the_stub_follows_its_configmap_as_the_kubelet_projects_it_and_keeps_its_data(tmp_path):
    """The operator moves a stub to a new spec by rewriting its ConfigMap only (no restart): the kubelet
    swaps the projected files in the running pod, and the stub must reload them and keep its state."""
    manifests = list(yaml.safe_load_all((EXAMPLE / "sandbox.yaml").read_text()))
    sbx = SandboxEnvironment.model_validate(next(d for d in manifests if d and d.get("kind") == "SandboxEnvironment"))
    spec_text = _configmap_data("payments-openapi.yaml")["openapi.yaml"]
    key = "sk_sbx_" + "ef" * 32
    objs = desired_objects(sbx, Inputs(
        cr_namespace="team", cr_name="checkout", stub=StubSettings("img"),
        specs={"payments": Document("openapi.yaml", spec_text)}, credentials=Credentials(key, "admin-secret")))
    stub = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "stub-payments")
    secret = next(o for o in objs if o["kind"] == "Secret")
    assert "--no-watch" not in stub["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not (stub["spec"]["template"]["metadata"].get("annotations") or {})  # nothing restarts it on a new spec
    newer = spec_text.replace("paths:\n", "paths:\n  /ping:\n    get:\n      operationId: ping\n      responses:\n"
                                         "        '200': {description: pong}\n", 1)
    assert newer != spec_text
    with stub_process(stub, {secret["metadata"]["name"]: secret["stringData"]}, {"/spec": {"openapi.yaml": spec_text}},
                      tmp_path, projected=frozenset({"/spec"})) as base:
        status, customer = request(f"{base}/v1/customers", key, "POST", {"email": "ada@example.com"})
        assert status == 201
        assert request(f"{base}/v1/ping", key)[0] == 404
        project(tmp_path / "spec", {"openapi.yaml": newer})
        wait_for(lambda: request(f"{base}/v1/ping", key)[0] == 200, what="the projected spec served")
        assert request(f"{base}/v1/customers/{customer['id']}", key) == (200, customer)
        assert request(f"{base}/__sandlot/health", "admin-secret")[1]["reloads"] == 1
        project(tmp_path / "spec", {"openapi.yaml": spec_text})  # and again: the watch follows the new folder
        wait_for(lambda: request(f"{base}/v1/ping", key)[0] == 404, what="the second projection served")
        assert request(f"{base}/v1/customers/{customer['id']}", key) == (200, customer)


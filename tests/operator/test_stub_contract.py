"""The stub Deployment the operator renders really starts `sandlot mock` and accepts the sandbox key.

Runs the rendered container's exact arguments and environment (Secret references resolved
from the rendered credentials Secret, volume paths mapped to a temporary folder) as a local
process on 127.0.0.1, with the example payments spec and fixtures from examples/payments/.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from sandlot.api.v1alpha1 import SandboxEnvironment
from sandlot.reconcile.desired import Credentials, Document, Inputs, StubSettings, desired_objects
from tests.operator.stub_process import request, stub_process

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "payments"


def _configmap_data(name: str) -> dict[str, str]:
    return yaml.safe_load((EXAMPLE / name).read_text())["data"]


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

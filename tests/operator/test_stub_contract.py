"""The stub Deployment the operator renders really starts `sandlot mock` and accepts the sandbox key.

Runs the rendered container's exact arguments and environment (Secret references resolved
from the rendered credentials Secret, volume paths mapped to a temporary folder) as a local
process on 127.0.0.1, with the example payments spec and fixtures from examples/payments/.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from tests.ports import free_port
from sandlot.api.v1alpha1 import SandboxEnvironment
from sandlot.reconcile.desired import Credentials, Document, Inputs, StubSettings, desired_objects, endpoints

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "payments"


def _configmap_data(name: str) -> dict[str, str]:
    return yaml.safe_load((EXAMPLE / name).read_text())["data"]


def _request(url: str, key: str | None) -> tuple[int, dict]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


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
    container = stub["spec"]["template"]["spec"]["containers"][0]

    for folder, text, name in (("spec", spec_text, "openapi.yaml"), ("fixtures", fixtures_text, "fixtures.yaml")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text(text)
    (tmp_path / "state").mkdir()
    port = free_port()
    args = [a.replace("/spec/", f"{tmp_path}/spec/").replace("/state/", f"{tmp_path}/state/")
            .replace("/fixtures/", f"{tmp_path}/fixtures/") for a in container["args"]]
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = str(port)
    env = {"PATH": "/usr/bin:/bin"}
    for item in container["env"]:
        ref = item["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"]
        env[item["name"]] = secret["stringData"][ref["key"]]

    proc = subprocess.Popen([sys.executable, "-m", "sandlot.cli", *args], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _ = _request(f"{base}/v1/customers", key)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() else "timeout"
                time.sleep(0.1)
        assert status == 200
        status, body = _request(f"{base}/v1/customers", key)
        ids = [c["id"] for c in body["data"]]
        assert "cus_seed_ada" in ids  # fixtures loaded into the key's tenant
        assert _request(f"{base}/v1/customers", None)[0] == 401
        assert _request(f"{base}/v1/customers", "sk_sbx_" + "cd" * 32)[0] == 401
        # The journal and the inspector page (status.endpoints lists `payments.inspector`), kept
        # in the stub's state volume: the key sees its tenant's requests, the admin token all.
        status, journal = _request(f"{base}/__sandlot/requests", key)
        assert status == 200 and [(e["status"], e["operation"]) for e in journal["requests"]] == \
            [(200, "listCustomers"), (200, "listCustomers")]
        assert key not in json.dumps(journal)
        status, everyone = _request(f"{base}/__sandlot/requests?status=401", "admin-secret")
        assert status == 200 and len(everyone["requests"]) == 2
        inspector = next(u for name, u in endpoints_of(sbx).items() if name == "payments.inspector")
        assert inspector.endswith(":4010/__sandlot/ui")
        with urllib.request.urlopen(f"{base}/__sandlot/ui", timeout=5) as page:
            assert page.status == 200 and b"Sandlot inspector" in page.read()
    finally:
        proc.terminate()
        proc.wait(timeout=15)

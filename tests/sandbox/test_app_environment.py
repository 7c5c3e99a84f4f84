"""The app gets the same environment from the operator as from `sandlot up`: one builder
(sandlot/util/appenv.py) serves both, and this checks the two results agree variable by variable."""

from __future__ import annotations

from pathlib import Path

import yaml

from sandlot.api.v1alpha1 import SandboxEnvironment
from sandlot.reconcile.desired import Credentials, Document, Inputs, StubSettings, desired_objects
from sandlot.up import start_sandbox
from sandlot.util.appenv import SANDBOX_FLAG, TEST_KEY_VAR

from .conftest import EXAMPLE


def test_operator_and_sandlot_up_give_the_app_the_same_environment(tmp_path: Path) -> None:
    doc = next(d for d in yaml.safe_load_all((EXAMPLE / "sandbox.yaml").read_text())
               if d and d.get("kind") == "SandboxEnvironment")
    sbx = SandboxEnvironment.model_validate(doc)
    inputs = Inputs("team", "pr-1", StubSettings("img"),
                    specs={d.name: Document("openapi.yaml", "openapi: 3.0.3") for d in sbx.spec.downstreams},
                    credentials=Credentials("sk_sbx_" + "0" * 64, "adm"))
    app = next(o for o in desired_objects(sbx, inputs) if o["kind"] == "Deployment"
               and o["metadata"]["name"] == "app")
    cluster = app["spec"]["template"]["spec"]["containers"][0]["env"]

    local_sandbox = start_sandbox(EXAMPLE / "sandbox.yaml", port=0, state_dir=tmp_path)
    try:
        local = local_sandbox.app_env
        key = local_sandbox.key.secret
        stubs = {s.env_var: s.url for s in local_sandbox.stubs}
    finally:
        local_sandbox.close()

    assert [e["name"] for e in cluster] == list(local)
    downstream_vars = {d.envVar for d in sbx.spec.downstreams}
    for entry in cluster:
        name = entry["name"]
        if name in downstream_vars:  # the same downstream, at its cluster or local address
            assert entry["value"].startswith("http://") and local[name] == stubs[name]
        elif name == TEST_KEY_VAR:  # the Secret's key in the cluster, the key itself locally
            assert entry["valueFrom"]["secretKeyRef"]["key"] == "apiKey" and local[name] == key
        else:
            assert local[name] == entry["value"]
    assert local[SANDBOX_FLAG] == "true"

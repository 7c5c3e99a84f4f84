"""Rendered manifests: exact golden output, and valid against the real Kubernetes schemas."""

from __future__ import annotations

import os
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from sandlot.api.v1alpha1 import SandboxEnvironment
from sandlot.reconcile.desired import Credentials, Document, Inputs, StubSettings, desired_objects

GOLDEN = Path(__file__).resolve().parent / "golden"


def _render() -> list[dict]:
    body = yaml.safe_load((GOLDEN / "sandbox.yaml").read_text())
    sbx = SandboxEnvironment.model_validate(body)
    inputs = Inputs(
        cr_namespace=body["metadata"]["namespace"], cr_name=body["metadata"]["name"],
        stub=StubSettings(image="ghcr.io/sandlot-dev/sandlot:0.1.0"),
        specs={"stripe": Document("openapi.yaml", "openapi: 3.1.0\n"),
               "mailer": Document("openapi.json", '{"openapi": "3.0.3"}')},
        fixtures=Document("fixtures.yaml", "customers: []\n"),
        credentials=Credentials("sk_sbx_" + "0" * 64, "admin-token"),
    )
    return desired_objects(sbx, inputs)


def test_rendered_objects_match_the_golden_file():
    text = yaml.safe_dump_all(_render(), sort_keys=True)
    golden = GOLDEN / "sandbox.rendered.yaml"
    if os.environ.get("SANDLOT_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text(), "rendered manifests changed; review and run with SANDLOT_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("version", ["1.29.0", "1.33.0"])
def test_rendered_objects_validate_strictly_against_kubernetes(version):
    for obj in _render():
        kubernetes_validate.validate(obj, version, strict=True)


def test_one_network_policy_denies_everything_but_the_namespace_dns_and_listed_egress():
    [policy] = [o for o in _render() if o["kind"] == "NetworkPolicy"]
    assert policy["metadata"]["name"] == "sandbox-isolation"
    spec = policy["spec"]
    # Selecting every pod for both directions makes anything no rule allows denied.
    assert spec["podSelector"] == {} and spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["ingress"] == [{"from": [{"podSelector": {}}]}]
    same_namespace, dns, listed = spec["egress"]
    assert same_namespace == {"to": [{"podSelector": {}}]}
    assert {p["port"] for p in dns["ports"]} == {53}
    assert dns["to"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
    assert listed == {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"port": 443, "protocol": "TCP"}]}


def test_without_listed_egress_only_the_namespace_and_dns_are_reachable():
    body = yaml.safe_load((GOLDEN / "sandbox.yaml").read_text())
    body["spec"]["network"] = {}
    sbx = SandboxEnvironment.model_validate(body)
    objs = desired_objects(sbx, Inputs("team-payments", "pr-42", StubSettings("img"),
                                       specs={"stripe": Document("a.yaml", ""), "mailer": Document("b.json", "")}))
    [policy] = [o for o in objs if o["kind"] == "NetworkPolicy"]
    assert len(policy["spec"]["egress"]) == 2
    assert not any("ipBlock" in peer for rule in policy["spec"]["egress"] for peer in rule["to"])
    assert not any(o["kind"] == "Secret" for o in objs)  # existing credentials are never re-rendered


def test_values_cannot_break_the_yaml():
    body = yaml.safe_load((GOLDEN / "sandbox.yaml").read_text())
    body["spec"]["app"]["env"] = [{"name": "TRICKY", "value": "a: b\n- c\n'\"{{ x }}\"#"}]
    sbx = SandboxEnvironment.model_validate(body)
    objs = desired_objects(sbx, Inputs("team-payments", "pr-42", StubSettings("img"),
                                       specs={"stripe": Document("a.yaml", "x: '\n"), "mailer": Document("b.json", "")}))
    app = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "app")
    env = app["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[0] == {"name": "TRICKY", "value": "a: b\n- c\n'\"{{ x }}\"#"}


def _render_with(**changes) -> list[dict]:
    body = yaml.safe_load((GOLDEN / "sandbox.yaml").read_text())
    sbx = SandboxEnvironment.model_validate(body)
    stub = StubSettings("img", **changes.pop("stub", {}))
    return desired_objects(sbx, Inputs("team-payments", "pr-42", stub, specs={
        "stripe": Document("a.yaml", ""), "mailer": Document("b.json", "")}, **changes))


def test_a_sleeping_sandbox_keeps_every_object_with_the_app_and_stubs_at_zero():
    awake, asleep = _render_with(), _render_with(awake=False)
    assert [(o["kind"], o["metadata"]["name"]) for o in asleep] == [(o["kind"], o["metadata"]["name"]) for o in awake]
    replicas = {o["metadata"]["name"]: o["spec"]["replicas"] for o in asleep if o["kind"] == "Deployment"}
    assert replicas == {"app": 0, "stub-stripe": 0, "stub-mailer": 0}
    changed = [o["metadata"]["name"] for o, p in zip(asleep, awake, strict=True) if o != p]
    assert changed == ["stub-stripe", "stub-mailer", "app"]  # nothing else is touched by sleep and wake


def test_the_operator_may_reach_the_stubs_port_and_nothing_else_when_it_knows_its_namespace():
    assert not [o for o in _render_with() if o["metadata"]["name"] == "allow-sandlot-operator"]
    objs = _render_with(stub={"operator_namespace": "sandlot-system", "port": 4010,
                              "operator_pod_labels": {"app.kubernetes.io/name": "sandlot"}})
    policy = next(o for o in objs if o["metadata"]["name"] == "allow-sandlot-operator")
    assert policy["spec"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/component": "stub"}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "sandlot-system"}},
                               "podSelector": {"matchLabels": {"app.kubernetes.io/name": "sandlot"}}}],
                     "ports": [{"port": 4010, "protocol": "TCP"}]}]}
    for version in ("1.29.0", "1.33.0"):
        kubernetes_validate.validate(policy, version, strict=True)

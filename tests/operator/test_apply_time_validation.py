"""Malformed specs are refused at apply time, by the real apiserver and by the emulator imitating it.

On the real control plane the CRDs installed by the chart are enforced by kube-apiserver
itself (structural schema, OpenAPI and CEL rules); the emulator, with schema enforcement on,
prunes, defaults and validates with the apiserver's wording. Either way this is what
`kubectl apply` shows a person.
"""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from sandlot.reconcile.naming import sandbox_namespace
from tests.operator.conftest import sandbox_spec
from tests.operator.harness import wait_for
from tests.operator.test_malformed import MALFORMED

@pytest.fixture
def kube_emulator_enforce_crd_schemas() -> bool:
    return True


def _leaf(field: str) -> str:
    """Return the last name of a field path as the apiserver's message contains it."""
    return field.rsplit(".", 1)[-1].split("[")[0]


def test_malformed_specs_are_refused_at_apply_time_naming_the_field(cluster, operator):
    refused, admitted = [], []
    for i, (override, field) in enumerate(MALFORMED):
        try:
            cluster.apply_sandbox(cluster.ns, f"bad-{i}", sandbox_spec(**override))
        except ApiException as exc:
            assert exc.status == 422, exc.body
            refused.append((i, field, exc.body))
        else:
            admitted.append((i, field))
    for i, field, body in refused:
        if field == "used twice":
            assert "downstream names must be unique" in body
        else:
            assert _leaf(field) in body, (field, body)
    # Only the unknown field is let through: the apiserver prunes it, so the sandbox is valid.
    assert [field for _, field in admitted] == ["spec.app.colour"]
    i = admitted[0][0]
    ns = sandbox_namespace(cluster.ns, f"bad-{i}")
    wait_for(lambda: cluster.mark_workloads_available(ns) == 0
             and (cluster.sandbox(cluster.ns, f"bad-{i}").get("status") or {}).get("phase") == "Ready", what="pruned one Ready")
    assert "colour" not in cluster.sandbox(cluster.ns, f"bad-{i}")["spec"]["app"]

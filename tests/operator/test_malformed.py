"""Twenty malformed sandboxes: each gets a message naming its field; the operator stays healthy.

Here the emulator does not enforce the CRD's schema, as with a CR stored under an older,
looser CRD version: the specs reach the operator, whose own validation must name the field and
stop retrying without hurting other sandboxes. test_apply_time_validation.py runs the same
twenty with the schema enforced, where the apiserver refuses them at `kubectl apply` time.
"""

from __future__ import annotations

import pytest

from sandlot.reconcile.naming import sandbox_namespace
from tests.operator.conftest import sandbox_spec
from tests.operator.harness import wait_for

#: A CR stored under an older, looser CRD exists only on the emulator, whose schema enforcement
#: can be switched off; the real apiserver always enforces the schema (test_apply_time_validation.py).
EMULATOR_ONLY = pytest.mark.parametrize("cluster", ["emulator"], indirect=True)
DS = {"name": "pets", "openapi": {"configMap": {"name": "pets-openapi", "key": "openapi.yaml"}}, "envVar": "PETS"}

MALFORMED = [
    ({"ttl": "5x"}, "ttl"),
    ({"ttl": "0d"}, "ttl"),
    ({"ttl": 12}, "ttl"),
    ({"app": {"image": "a", "port": 70000}}, "spec.app.port"),
    ({"app": {"image": "a", "port": "http"}}, "spec.app.port"),
    ({"app": {"port": 8080}}, "spec.app.image"),
    ({"app": {"image": "has space"}}, "spec.app.image"),
    ({"app": {"image": "a", "replicas": -1}}, "spec.app.replicas"),
    ({"app": {"image": "a", "env": [{"name": "1X", "value": "v"}]}}, "spec.app.env[0].name"),
    ({"app": {"image": "a", "colour": "blue"}}, "spec.app.colour"),
    ({"tenant": "Payments Team"}, "spec.tenant"),
    ({"onExpiry": "Forever"}, "spec.onExpiry"),
    ({"downstreams": [{**DS, "name": "Pets"}]}, "spec.downstreams[0].name"),
    ({"downstreams": [{**DS, "openapi": {}}]}, "spec.downstreams[0].openapi"),
    ({"downstreams": [{**DS, "openapi": {"url": "http://x", "configMap": {"name": "a", "key": "b"}}}]},
     "spec.downstreams[0].openapi"),
    ({"downstreams": [{**DS, "envVar": "has-dash"}]}, "spec.downstreams[0].envVar"),
    ({"downstreams": [DS, DS]}, "used twice"),
    ({"quota": {"cpu": "lots"}}, "spec.quota.cpu"),
    ({"quota": {"pods": 0}}, "spec.quota.pods"),
    ({"network": {"egress": [{"cidr": "0.0.0.0"}]}}, "spec.network.egress[0].cidr"),
]


def test_there_are_twenty_distinct_cases():
    assert len(MALFORMED) == 20


@EMULATOR_ONLY
def test_each_malformed_spec_gets_a_clear_message_and_the_operator_stays_healthy(cluster, operator):
    for i, (override, _) in enumerate(MALFORMED):
        cluster.apply_sandbox(cluster.ns, f"bad-{i}", sandbox_spec(**override))
    for i, (_, field) in enumerate(MALFORMED):
        cond = wait_for(lambda i=i: (c := cluster.ready_condition(cluster.ns, f"bad-{i}")).get("reason") == "InvalidSpec" and c,
                        what=f"InvalidSpec on bad-{i}")
        assert field in cond["message"], (i, cond["message"])
        assert cond["message"].endswith("fix the field(s) and apply again")
        body = cluster.sandbox(cluster.ns, f"bad-{i}")
        assert body["status"]["phase"] == "Failed"
        # Nothing was half-created for a spec that cannot work.
        assert cluster.kube.get("v1", "Namespace", sandbox_namespace(cluster.ns, f"bad-{i}")) is None

    # The operator keeps serving every other sandbox.
    cluster.apply_sandbox(cluster.ns, "good", sandbox_spec())
    ns = sandbox_namespace(cluster.ns, "good")
    wait_for(lambda: cluster.mark_workloads_available(ns) == 0
             and (cluster.sandbox(cluster.ns, "good").get("status") or {}).get("phase") == "Ready", what="good sandbox Ready")
    assert operator.alive

    # Fixing a bad one (a spec change) brings it up.
    cluster.patch_sandbox(cluster.ns, "bad-0", {"spec": {"ttl": "1h"}})
    ns0 = sandbox_namespace(cluster.ns, "bad-0")
    wait_for(lambda: cluster.mark_workloads_available(ns0) == 0
             and (cluster.sandbox(cluster.ns, "bad-0").get("status") or {}).get("phase") == "Ready", what="fixed sandbox Ready")


@EMULATOR_ONLY
@pytest.mark.parametrize("override, field", MALFORMED[:3])
def test_deleting_a_malformed_sandbox_is_clean(cluster, operator, override, field):
    cluster.apply_sandbox(cluster.ns, "bad", sandbox_spec(**override))
    wait_for(lambda: cluster.ready_condition(cluster.ns, "bad").get("reason") == "InvalidSpec", what="InvalidSpec")
    cluster.delete_sandbox(cluster.ns, "bad")
    wait_for(lambda: cluster.sandbox(cluster.ns, "bad") is None, what="deleted")

"""A downstream that gives `graphql:` instead of `openapi:`: the operator ships the schema into the
sandbox as `schema.graphql`, runs the stub on it (the same `sandlot mock` as for REST) and hands
the app the GraphQL endpoint; a downstream naming both, or neither, is refused at apply time."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from sandlot.reconcile.desired import Document
from sandlot.reconcile.naming import sandbox_namespace
from tests.operator.conftest import sandbox_spec
from tests.operator.harness import wait_for

SHOP = (Path(__file__).parents[1] / "graphql" / "fixtures" / "shop.graphql").read_text()
GRAPHQL_DS = {"name": "shop", "graphql": {"configMap": {"name": "shop-schema", "key": "shop.graphqls"}},
              "envVar": "SHOP_GRAPHQL_URL"}


@pytest.fixture
def kube_emulator_enforce_crd_schemas() -> bool:
    return True


def test_graphql_downstream_runs_a_stub_on_its_schema(cluster, operator):
    cluster.configmap(cluster.ns, "shop-schema", {"shop.graphqls": SHOP})
    cluster.apply_sandbox(cluster.ns, "gql", sandbox_spec(downstreams=[GRAPHQL_DS]))
    ns = sandbox_namespace(cluster.ns, "gql")
    wait_for(lambda: cluster.kube.list("apps/v1", "Deployment", ns), what="provisioning")
    wait_for(lambda: cluster.mark_workloads_available(ns) == 0
             and (cluster.sandbox(cluster.ns, "gql").get("status") or {}).get("phase") == "Ready", what="gql Ready")
    status = cluster.sandbox(cluster.ns, "gql")["status"]
    assert status["endpoints"]["shop"] == f"http://stub-shop.{ns}.svc.cluster.local:4010/graphql"
    schema = cluster.kube.get("v1", "ConfigMap", "openapi-shop", ns)
    assert schema["data"] == {"schema.graphql": SHOP}
    stub = cluster.kube.get("apps/v1", "Deployment", "stub-shop", ns)
    args = stub["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["mock", "/spec/schema.graphql"] and "--stateful" in args
    app = cluster.kube.get("apps/v1", "Deployment", "app", ns)
    env = {e["name"]: e.get("value") for e in app["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SHOP_GRAPHQL_URL"] == status["endpoints"]["shop"]


def test_a_downstream_names_exactly_one_description(cluster, operator):
    both = {**GRAPHQL_DS, "openapi": {"configMap": {"name": "pets-openapi", "key": "openapi.yaml"}}}
    neither = {k: v for k, v in GRAPHQL_DS.items() if k != "graphql"}
    for i, downstream in enumerate([both, neither]):
        with pytest.raises(ApiException) as refused:
            cluster.apply_sandbox(cluster.ns, f"two-{i}", sandbox_spec(downstreams=[downstream]))
        assert refused.value.status == 422
        assert "set exactly one of openapi, graphql" in refused.value.body


def test_a_graphql_downstream_follows_its_schema_and_holds_a_breaking_version(cluster, operator):
    """syncPolicy BlockBreaking on a GraphQL downstream: the schema's ConfigMap gains a field (served
    in place, as `schema.graphql`), then loses one (a breaking change, judged by the same diff as
    `sandlot diff a.graphql b.graphql`: held, named in SpecDrift, until accepted)."""
    added = SHOP.replace("  avatarUrl: String\n", "  avatarUrl: String\n  phone: String\n", 1)
    removed = added.replace("  motto: String", "  # motto was removed\n", 1).replace(
        ' @examples(values: ["carpe diem", "veni, vidi, vici"])', "", 1)
    assert added != SHOP and "motto" not in removed.replace("# motto", "")
    digests = [Document("schema.graphql", text).digest() for text in (SHOP, added, removed)]
    cluster.configmap(cluster.ns, "shop-schema", {"shop.graphqls": SHOP})
    downstream = {**GRAPHQL_DS, "syncPolicy": "BlockBreaking"}
    cluster.apply_sandbox(cluster.ns, "gqlsync", sandbox_spec(downstreams=[downstream]))
    ns = sandbox_namespace(cluster.ns, "gqlsync")

    def status() -> dict:
        return (cluster.sandbox(cluster.ns, "gqlsync") or {}).get("status") or {}

    def condition(type_: str) -> tuple[str, str, str]:
        found = [c for c in status().get("conditions") or [] if c["type"] == type_]
        return (found[0]["status"], found[0]["reason"], found[0]["message"]) if found else ("", "", "")

    def served() -> str | None:
        return ((cluster.kube.get("v1", "ConfigMap", "openapi-shop", ns) or {}).get("data") or {}).get("schema.graphql")

    wait_for(lambda: cluster.kube.list("apps/v1", "Deployment", ns), what="provisioning")
    wait_for(lambda: cluster.mark_workloads_available(ns) == 0 and status().get("phase") == "Ready", what="Ready")
    entry = status()["specs"]["shop"]
    assert (entry["digest"], entry["state"]) == (digests[0], "Synced")

    cluster.kube.patch("v1", "ConfigMap", "shop-schema", {"data": {"shop.graphqls": added}}, namespace=cluster.ns)
    wait_for(lambda: served() == added, what="the compatible schema served", details=status)
    wait_for(lambda: status()["specs"]["shop"]["digest"] == digests[1], what="status.specs updated", details=status)

    cluster.kube.patch("v1", "ConfigMap", "shop-schema", {"data": {"shop.graphqls": removed}}, namespace=cluster.ns)
    wait_for(lambda: condition("SpecSynced")[:2] == ("False", "BreakingChangeHeld"), what="the removal held",
             details=status)
    drift = condition("SpecDrift")
    assert drift[:2] == ("True", "BreakingChange")
    assert "Customer.motto" in drift[2], drift[2]
    assert served() == added  # the stub keeps serving the last good schema
    cluster.patch_sandbox(cluster.ns, "gqlsync",
                          {"metadata": {"annotations": {"sandlot.dev/accept-spec-shop": digests[2]}}})
    wait_for(lambda: served() == removed, what="the accepted schema served", details=status)

"""A stub follows its downstream's spec (issue 12, part 2), on both backends.

The spec's ConfigMap in the team's namespace is edited; the operator serves the new version to
the stub by rewriting only the sandbox's `openapi-<downstream>` ConfigMap (the stub's Deployment,
and on the real control plane its Pod, stay the same: no restart, so the stub's stateful data
stays), and reports it in status.specs, the SpecSynced and SpecDrift conditions, an Event and
`sandlot_spec_changes_total`, per syncPolicy. How the change is noticed (the ConfigMap watch, a
URL or S3 poll) is tested on the real control plane in test_spec_sources.py; here the tests'
short SANDLOT_RESYNC_SECONDS re-reads the source as well.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from sandlot.reconcile.desired import Document
from sandlot.reconcile.naming import sandbox_namespace
from tests.operator.conftest import PETSTORE, sandbox_spec
from tests.operator.harness import Cluster, wait_for

#: The pets spec with an optional query parameter: compatible.
COMPATIBLE = PETSTORE.replace("    get:\n", "    get:\n      parameters: [{name: limit, in: query, schema: "
                                             "{type: integer}}]\n", 1)
#: That, with a required query parameter too: requests that worked are refused.
BREAKING = COMPATIBLE.replace("[{name: limit", "[{name: owner, in: query, required: true, schema: {type: string}}, "
                                              "{name: limit", 1)
D0, D1, D2 = (Document("openapi.yaml", t).digest() for t in (PETSTORE, COMPATIBLE, BREAKING))
BREAK_SUMMARY = ("1 change: 1 error, 0 warnings, 0 info (breaking)\n  ERROR    new-required-request-parameter  "
                 "GET /pets: added the required query parameter 'owner'; requests without it are refused. Make it "
                 "optional (with a server-side default) or add it in a new operation")
#: The same change seen from the first version: the optional parameter is new too.
BREAK_SUMMARY_FROM_0 = BREAK_SUMMARY.replace("1 change: 1 error, 0 warnings, 0 info", "2 changes: 1 error, 0 warnings, "
                                             "1 info") + ("\n  info     new-optional-request-parameter  GET /pets: "
                                                          "added the optional query parameter 'limit'")


def bring_up(cluster: Cluster, name: str, **spec: Any) -> str:
    """Apply a sandbox and wait until it is Ready; return its namespace."""
    cluster.apply_sandbox(cluster.ns, name, sandbox_spec(**spec))
    ns = sandbox_namespace(cluster.ns, name)
    wait_for(lambda: cluster.kube.list("apps/v1", "Deployment", ns), what="provisioning")
    wait_for(lambda: cluster.mark_workloads_available(ns) == 0 and status(cluster, name).get("phase") == "Ready",
             what=f"{name} Ready", details=lambda: status(cluster, name))
    return ns


def status(cluster: Cluster, name: str) -> dict[str, Any]:
    return (cluster.sandbox(cluster.ns, name) or {}).get("status") or {}


def condition(cluster: Cluster, name: str, type_: str) -> tuple[str, str, str]:
    for cond in status(cluster, name).get("conditions") or []:
        if cond["type"] == type_:
            return cond["status"], cond["reason"], cond["message"]
    return ("", "", "")


def served(cluster: Cluster, ns: str) -> str | None:
    """Return the spec text the stub's ConfigMap holds."""
    cm = cluster.kube.get("v1", "ConfigMap", "openapi-pets", ns) or {}
    return (cm.get("data") or {}).get("openapi.yaml")


def edit_source(cluster: Cluster, text: str) -> None:
    cluster.kube.patch("v1", "ConfigMap", "pets-openapi", {"data": {"openapi.yaml": text}}, namespace=cluster.ns)


def stub_identity(cluster: Cluster, ns: str) -> tuple[Any, ...]:
    """Return what changes when the stub is restarted: its Deployment's uid and content hash, and (on a real
    control plane, where kwok runs the pods) the uids of its pods."""
    dep = cluster.kube.get("apps/v1", "Deployment", "stub-pets", ns)
    pods = sorted(p["metadata"]["uid"] for p in cluster.kube.list("v1", "Pod", ns, "sandlot.dev/downstream=pets"))
    return dep["metadata"]["uid"], dep["metadata"]["annotations"]["sandlot.dev/config-hash"], pods


def events(cluster: Cluster, name: str) -> list[tuple[str, str, str]]:
    return [(e.get("type"), e["reason"], e["message"]) for e in cluster.objects("Event", cluster.ns)
            if (e.get("involvedObject") or {}).get("name") == name]


def changes_counted(outcome: str, breaking: bool) -> float:
    return REGISTRY.get_sample_value("sandlot_spec_changes_total",
                                     {"outcome": outcome, "breaking": str(breaking).lower()}) or 0.0


def accept(cluster: Cluster, name: str, digest: str) -> None:
    cluster.patch_sandbox(cluster.ns, name, {"metadata": {"annotations": {"sandlot.dev/accept-spec-pets": digest}}})


def test_auto_serves_each_new_version_in_place_and_reports_a_breaking_one_until_accepted(cluster, operator):
    ns = bring_up(cluster, "auto")
    before = stub_identity(cluster, ns)
    assert before[2] or cluster.backend == "emulator"  # kwok runs the stub's pod on the real control plane
    entry = status(cluster, "auto")["specs"]["pets"]
    assert (entry["source"], entry["digest"], entry["sourceDigest"], entry["state"]) == (
        "configMap pets-openapi key openapi.yaml", D0, D0, "Synced")
    assert condition(cluster, "auto", "SpecSynced") == ("True", "Synced", f"pets serves {D0} since {entry['syncedAt']}")
    assert condition(cluster, "auto", "SpecDrift")[:2] == ("False", "NoBreakingChange")
    served_before = changes_counted("served", False)

    edit_source(cluster, COMPATIBLE)
    wait_for(lambda: served(cluster, ns) == COMPATIBLE, what="the compatible version served")
    wait_for(lambda: status(cluster, "auto")["specs"]["pets"]["digest"] == D1, what="status.specs updated")
    assert stub_identity(cluster, ns) == before  # not restarted: the kubelet projects the ConfigMap in place
    assert changes_counted("served", False) == served_before + 1
    wait_for(lambda: ("Normal", "SpecSynced", f"pets: serving {D1} (was {D0})\n1 change: 0 errors, 0 warnings, 1 info"
                      "\n  info     new-optional-request-parameter  GET /pets: added the optional query parameter "
                      "'limit'") in events(cluster, "auto"), what="the SpecSynced Event",
             details=lambda: events(cluster, "auto"))

    edit_source(cluster, BREAKING)
    wait_for(lambda: condition(cluster, "auto", "SpecDrift")[0] == "True", what="SpecDrift",
             details=lambda: status(cluster, "auto"))
    assert served(cluster, ns) == BREAKING  # Auto serves it anyway
    command = f"kubectl -n {cluster.ns} annotate sandboxenvironment auto sandlot.dev/accept-spec-pets={D2} --overwrite"
    assert condition(cluster, "auto", "SpecDrift") == (
        "True", "BreakingChange", f"pets: {D2} breaks {D1} (served, to accept it: {command})\n{BREAK_SUMMARY}")
    assert condition(cluster, "auto", "SpecSynced")[:2] == ("True", "Synced")
    wait_for(lambda: ("Warning", "BreakingChange", f"pets: serving {D2}, which breaks {D1} (syncPolicy Auto); to "
                      f"accept it: {command}\n{BREAK_SUMMARY}") in events(cluster, "auto"), what="BreakingChange Event")
    assert stub_identity(cluster, ns) == before

    accept(cluster, "auto", D2)
    wait_for(lambda: condition(cluster, "auto", "SpecDrift")[:2] == ("False", "NoBreakingChange"),
             what="the breaking change accepted", details=lambda: status(cluster, "auto"))
    assert "breaking" not in status(cluster, "auto")["specs"]["pets"]


def test_block_breaking_holds_a_breaking_version_until_it_is_accepted(cluster, operator):
    ns = bring_up(cluster, "careful", downstreams=[{**sandbox_spec()["downstreams"][0], "syncPolicy": "BlockBreaking"}])
    held_before = changes_counted("held", True)
    edit_source(cluster, BREAKING)
    wait_for(lambda: condition(cluster, "careful", "SpecSynced")[0] == "False", what="the breaking version held",
             details=lambda: status(cluster, "careful"))
    command = (f"kubectl -n {cluster.ns} annotate sandboxenvironment careful sandlot.dev/accept-spec-pets={D2} "
               "--overwrite")
    held = f"pets: {D2} breaks the served {D0} and is held (syncPolicy BlockBreaking); to serve it: {command}"
    assert condition(cluster, "careful", "SpecSynced") == ("False", "BreakingChangeHeld", held)
    assert condition(cluster, "careful", "SpecDrift") == (
        "True", "BreakingChange", f"pets: {D2} breaks {D0} (held, to serve it: {command})\n{BREAK_SUMMARY_FROM_0}")
    entry = status(cluster, "careful")["specs"]["pets"]
    assert (entry["digest"], entry["sourceDigest"], entry["state"]) == (D0, D2, "Held")
    assert served(cluster, ns) == PETSTORE
    assert status(cluster, "careful")["phase"] == "Ready"  # the sandbox keeps working on the old version
    assert changes_counted("held", True) == held_before + 1
    wait_for(lambda: ("Warning", "BreakingChange", f"{held}\n{BREAK_SUMMARY_FROM_0}") in events(cluster, "careful"),
             what="the BreakingChange Event")

    accept(cluster, "careful", D2)
    wait_for(lambda: served(cluster, ns) == BREAKING, what="the accepted version served")
    wait_for(lambda: condition(cluster, "careful", "SpecDrift")[:2] == ("False", "NoBreakingChange")
             and condition(cluster, "careful", "SpecSynced")[:2] == ("True", "Synced"), what="synced again",
             details=lambda: status(cluster, "careful"))
    assert ("Normal", "SpecSynced", f"pets: serving {D2} (was {D0}) (accepted)\n{BREAK_SUMMARY_FROM_0}") in \
        events(cluster, "careful")


def test_manual_serves_no_new_version_until_accepted(cluster, operator):
    ns = bring_up(cluster, "manual", downstreams=[{**sandbox_spec()["downstreams"][0], "syncPolicy": "Manual"}])
    edit_source(cluster, COMPATIBLE)
    wait_for(lambda: condition(cluster, "manual", "SpecSynced")[1] == "AwaitingAcceptance", what="held",
             details=lambda: status(cluster, "manual"))
    assert condition(cluster, "manual", "SpecDrift")[:2] == ("False", "NoBreakingChange")
    assert served(cluster, ns) == PETSTORE
    accept(cluster, "manual", D1)
    wait_for(lambda: served(cluster, ns) == COMPATIBLE, what="the accepted version served")
    wait_for(lambda: condition(cluster, "manual", "SpecSynced")[:2] == ("True", "Synced"), what="synced")


def test_a_version_that_cannot_be_served_keeps_the_last_good_one(cluster, operator):
    ns = bring_up(cluster, "broken")
    edit_source(cluster, "openapi: 3.0.3\npaths: [\n")
    wait_for(lambda: condition(cluster, "broken", "SpecSynced")[1] == "SpecInvalid", what="SpecInvalid",
             details=lambda: status(cluster, "broken"))
    assert served(cluster, ns) == PETSTORE
    assert status(cluster, "broken")["phase"] == "Ready"
    # The source's ConfigMap deleted: the stub keeps its spec, the status says why it is not followed.
    cluster.kube.delete("v1", "ConfigMap", "pets-openapi", cluster.ns)
    wait_for(lambda: condition(cluster, "broken", "SpecSynced")[1] == "SourceUnreadable", what="SourceUnreadable",
             details=lambda: status(cluster, "broken"))
    assert condition(cluster, "broken", "SpecSynced")[2].startswith(
        "pets: spec.downstreams[0].openapi.configMap: ConfigMap 'pets-openapi' not found")
    assert served(cluster, ns) == PETSTORE and status(cluster, "broken")["phase"] == "Ready"
    cluster.configmap(cluster.ns, "pets-openapi", {"openapi.yaml": COMPATIBLE})
    wait_for(lambda: served(cluster, ns) == COMPATIBLE, what="followed again")


def test_a_wake_survives_a_periodic_pass_that_did_not_finish(cluster, monkeypatch):
    """The ConfigMap watch wakes a sandbox once per change; the periodic check that takes the wake and then
    fails (a conflict, an API error) gives it back, so the next check acts on the change instead of the
    next full resync (an hour here) doing it. The periodic check runs alone, as kopf would call it."""
    import logging
    from types import SimpleNamespace

    import kubernetes

    from sandlot.controller import handlers, sync
    from sandlot.kube import Kube
    from sandlot.settings import load_settings

    monkeypatch.setenv("SANDLOT_RESYNC_SECONDS", "3600")
    monkeypatch.setattr(handlers.kopf, "info", lambda *a, **k: None)
    monkeypatch.setattr(handlers.kopf, "warn", lambda *a, **k: None)
    client = kubernetes.config.new_client_from_config(config_file=str(cluster.operator_kubeconfig))
    key = f"{cluster.ns}/woken"
    follower = sync.ConfigMapFollower(Kube(client), {(cluster.ns, "pets-openapi"): [key]})  # not started: woken here
    ctx = handlers.Context(kube=Kube(client), settings=load_settings(), follower=follower)
    memo, log = SimpleNamespace(), logging.getLogger("test")
    cluster.apply_sandbox(cluster.ns, "woken", sandbox_spec())
    ns = sandbox_namespace(cluster.ns, "woken")

    def check() -> None:
        handlers._recheck(ctx, memo, cluster.sandbox(cluster.ns, "woken"), log)

    try:
        wait_for(lambda: check() or (cluster.mark_workloads_available(ns) == 0 and status(cluster, "woken")
                                     .get("phase") == "Ready" and "pets" in status(cluster, "woken").get("specs", {})),
                 interval=0.5, what="Ready through the periodic check alone", details=lambda: status(cluster, "woken"))
        check()
        assert served(cluster, ns) == PETSTORE
        edit_source(cluster, COMPATIBLE)
        follower.wake(cluster.ns, ["pets-openapi"])
        real, failed = handlers._reconcile, []

        def conflict(*args: Any, **kwargs: Any) -> None:
            failed.append(1)
            raise handlers.kopf.TemporaryError("409: the object has been modified", delay=1)
        monkeypatch.setattr(handlers, "_reconcile", conflict)
        check()
        assert failed == [1] and served(cluster, ns) == PETSTORE
        monkeypatch.setattr(handlers, "_reconcile", real)
        check()  # the wake given back: this check reads the ConfigMap and serves the new version
        assert served(cluster, ns) == COMPATIBLE
        assert status(cluster, "woken")["specs"]["pets"]["digest"] == D1
        assert follower.take(key) is False  # acted on: nothing left to wake
    finally:
        client.close()

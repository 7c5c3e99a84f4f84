"""SandboxTenant admission on the real control plane (and on the emulator where it agrees).

The burst test applies 30 sandboxes at once with `kubectl apply` against `maxSandboxes: 5`,
SIGKILLs the `sandlot operator` process while they are admitted and while sandboxes are deleted,
and samples the API throughout: the ledger in the tenant's status and the sandboxes' phases never
show more than five active, the queue keeps creation order, and each delete admits the next.
"""

from __future__ import annotations

import random
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandlot.api.v1alpha1 import SandboxTenant
from sandlot.reconcile.lifetime import format_time, parse_time
from sandlot.reconcile.naming import sandbox_namespace
from tests.operator.conftest import sandbox_spec
from tests.operator.harness import Cluster, OperatorProcess, Repeating, wait_for

API = "sandlot.dev/v1alpha1"
# Real only: kubectl (apply of 30 documents, printer columns, server-side dry run) and SIGKILLed
# `sandlot operator` processes need the real API server; the other scenarios run on both.
REAL_ONLY = pytest.mark.parametrize("cluster", [pytest.param("kube-apiserver", marks=pytest.mark.cluster)],
                                    indirect=True)
ACTIVE_PHASES = ("Provisioning", "Ready")


def make_tenant(cluster: Cluster, name: str, **spec: Any) -> None:
    cluster.kube.create({"apiVersion": API, "kind": "SandboxTenant", "metadata": {"name": name}, "spec": spec})


def tenant_status(cluster: Cluster, name: str) -> dict[str, Any]:
    return (cluster.kube.get(API, "SandboxTenant", name) or {}).get("status") or {}


def status(cluster: Cluster, name: str) -> dict[str, Any]:
    return (cluster.sandbox(cluster.ns, name) or {}).get("status") or {}


def phase(cluster: Cluster, name: str) -> str | None:
    return status(cluster, name).get("phase")


def seated(cluster: Cluster, tenant: str) -> list[str]:
    """Return the names of the sandboxes holding a seat in the tenant's ledger."""
    return [e["sandbox"].split("/", 1)[1] for e in tenant_status(cluster, tenant).get("admitted") or []]


def positions(cluster: Cluster, names: list[str]) -> dict[str, int | None]:
    return {n: status(cluster, n).get("queuePosition") for n in names}


def reason(cluster: Cluster, name: str) -> str | None:
    return cluster.ready_condition(cluster.ns, name).get("reason")


def ready_all(cluster: Cluster, names: list[str]) -> bool:
    """Play the kubelet on the emulator, then say whether every named sandbox is Ready."""
    for n in names:
        cluster.mark_workloads_available(sandbox_namespace(cluster.ns, n))
    return all(phase(cluster, n) == "Ready" for n in names)


class ActiveWatch(Repeating):
    """Sample the API in a thread: the most sandboxes ever seen active, by the ledger and by their phases."""

    def __init__(self, cluster: Cluster, tenant: str) -> None:
        super().__init__(every=0.05)
        self.cluster, self.tenant = cluster, tenant
        self.most_seated = 0
        self.most_running = 0
        self.samples = 0

    def step(self) -> None:
        try:
            seats = len(tenant_status(self.cluster, self.tenant).get("admitted") or [])
            running = sum(1 for s in self.cluster.kube.list(API, "SandboxEnvironment", self.cluster.ns)
                          if not s["metadata"].get("deletionTimestamp")
                          and (s.get("status") or {}).get("phase") in ACTIVE_PHASES)
        except Exception:  # noqa: BLE001 - a sample lost to an API hiccup is not a finding
            return
        self.most_seated = max(self.most_seated, seats)
        self.most_running = max(self.most_running, running)
        self.samples += 1


def _kubectl_path() -> Path:
    from tests.chart.cluster_tools import find_tool

    return find_tool("kubectl")


def _kubectl(cluster: Cluster, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([str(_kubectl_path()), "--kubeconfig", str(cluster.plane.admin_kubeconfig), *args],
                          input=stdin, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@REAL_ONLY
def test_thirty_at_once_against_five_exactly_five_run_and_each_delete_admits_the_next_through_kills(
        cluster, tmp_path, capsys):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    make_tenant(cluster, "burst", maxSandboxes=5)
    names = [f"pr-{i:02d}" for i in range(30)]
    docs = [{"apiVersion": API, "kind": "SandboxEnvironment", "metadata": {"name": n, "namespace": cluster.ns},
             "spec": sandbox_spec(tenant="burst")} for n in names]
    operator = OperatorProcess(cluster.operator_kubeconfig, tmp_path / "operator.log").start()
    try:
        with ActiveWatch(cluster, "burst") as watch:
            started = time.monotonic()
            _kubectl(cluster, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
            applied = time.monotonic() - started
            kills = []
            for _ in range(2):  # SIGKILL while the burst is being admitted
                time.sleep(rng.uniform(0.1, 1.5))
                kills.append((len(seated(cluster, "burst")), sum(phase(cluster, n) == "Queued" for n in names)))
                operator.kill()
                operator.start()

            def settled() -> bool:
                return (sorted(seated(cluster, "burst")) == names[:5]
                        and positions(cluster, names[5:]) == {n: i for i, n in enumerate(names[5:], 1)})

            wait_for(settled, timeout=180, what=f"5 seated and 25 queued in order (seed {seed}, kills {kills})",
                     details=lambda: (seated(cluster, "burst"), positions(cluster, names)))
            queued_in = time.monotonic() - started
            wait_for(lambda: ready_all(cluster, names[:5]), timeout=180, what="the first five Ready")
            ready_in = time.monotonic() - started
            created = sorted((cluster.sandbox(cluster.ns, n)["metadata"]["creationTimestamp"], n) for n in names)
            assert [n for _, n in created] == names  # the order the queue keeps is the order they were created
            assert all(phase(cluster, n) == "Queued" for n in names[5:])
            assert all(reason(cluster, n) == "Queued" for n in names[5:])
            message = cluster.ready_condition(cluster.ns, "pr-07")["message"]
            assert message.startswith("position 3 of 25 in tenant 'burst''s queue, waiting for a free slot (5 of")
            figures = tenant_status(cluster, "burst")
            assert (figures["active"], figures["queued"], figures["sleeping"]) == (5, 25, 0)
            assert figures["budgetUsed"] == {"cpu": "20", "memory": "40Gi", "pods": 100}
            assert [q["sandbox"] for q in figures["queue"]] == [f"{cluster.ns}/{n}" for n in names[5:]]
            table = _kubectl(cluster, "get", "sbxt", "burst", "--no-headers").split()
            assert table[:7] == ["burst", "5", "5", "25", "0", "20", "40Gi"]
            rows = {line.split()[0]: line.split() for line in _kubectl(cluster, "get", "sbx", "-n", cluster.ns,
                                                                        "--no-headers").splitlines()}
            assert rows["pr-07"][1:4] == ["Queued", "burst", "3"] and rows["pr-00"][1:3] == ["Ready", "burst"]
            assert "Queued" in cluster.event_reasons(cluster.ns) and "Admitted" in cluster.event_reasons(cluster.ns)

            # Each delete admits the next in line, with the operator killed right after some deletes.
            deletes = time.monotonic()
            for i in range(5):
                cluster.delete_sandbox(cluster.ns, names[i])
                if i % 2 == 0:
                    time.sleep(rng.uniform(0.0, 0.6))
                    operator.kill()
                    operator.start()
                nxt = names[5 + i]
                wait_for(lambda nxt=nxt: nxt in seated(cluster, "burst") and phase(cluster, nxt) in ACTIVE_PHASES,
                         timeout=120, what=f"{nxt} admitted after {names[i]} was deleted")
                assert positions(cluster, names[6 + i:7 + i]) in ({names[6 + i]: 1}, {names[6 + i]: 2})
            wait_for(lambda: ready_all(cluster, names[5:10]), timeout=180, what="the next five Ready")
            wait_for(lambda: positions(cluster, names[10:]) == {n: i for i, n in enumerate(names[10:], 1)},
                     what="the queue moved up by five")
            moved_in = time.monotonic() - deletes
            assert sorted(seated(cluster, "burst")) == names[5:10]
        assert watch.samples > 50 and watch.most_seated <= 5 and watch.most_running <= 5, vars(watch)
        owned = [ns["metadata"]["name"] for ns in cluster.kube.list("v1", "Namespace")
                 if (ns["metadata"].get("annotations") or {}).get("sandlot.dev/owner", "").startswith(f"{cluster.ns}/")
                 and not ns["metadata"].get("deletionTimestamp")]
        assert sorted(owned) == sorted(sandbox_namespace(cluster.ns, n) for n in names[5:10])  # never a namespace for a waiting one
        with capsys.disabled():
            print(f"\nburst of 30 vs maxSandboxes 5 (seed {seed}, kills at {kills}): applied in {applied:.1f} s, "
                  f"5 seated + 25 queued in order after {queued_in:.1f} s, first five Ready after {ready_in:.1f} s; "
                  f"5 deletes (3 operator kills) -> next five admitted and Ready in {moved_in:.1f} s; "
                  f"most seated {watch.most_seated}, most active {watch.most_running} over {watch.samples} samples")
        for n in names:
            cluster.delete_sandbox(cluster.ns, n)
        wait_for(lambda: not cluster.kube.list(API, "SandboxEnvironment", cluster.ns), timeout=180,
                 what="every sandbox deleted")
        wait_for(lambda: tenant_status(cluster, "burst").get("active") == 0
                 and not tenant_status(cluster, "burst").get("queue"), what="an empty ledger")
    finally:
        operator.stop()


def test_higher_priority_leaves_the_queue_first_and_first_come_within_a_level(cluster, operator):
    make_tenant(cluster, "prio", maxSandboxes=1, priorities=[{"name": "urgent", "value": 100},
                                                             {"name": "normal", "value": 0}])
    for name, level in (("a", None), ("b", None), ("c", "normal"), ("d", "urgent"), ("e", "urgent")):
        extra = {"priority": level} if level else {}
        cluster.apply_sandbox(cluster.ns, name, sandbox_spec(tenant="prio", **extra))
        wait_for(lambda name=name: phase(cluster, name) in ("Queued", *ACTIVE_PHASES), what=f"{name} seen")
    wait_for(lambda: positions(cluster, ["b", "c", "d", "e"]) == {"d": 1, "e": 2, "b": 3, "c": 4},
             what="urgent ones first", details=lambda: positions(cluster, ["b", "c", "d", "e"]))
    cluster.delete_sandbox(cluster.ns, "a")
    wait_for(lambda: seated(cluster, "prio") == ["d"] and phase(cluster, "d") in ACTIVE_PHASES, what="d admitted")
    wait_for(lambda: positions(cluster, ["b", "c", "e"]) == {"e": 1, "b": 2, "c": 3}, what="the queue moved up")


def test_the_budget_counts_quotas_and_a_sandbox_bigger_than_the_budget_is_refused(cluster, operator):
    make_tenant(cluster, "budget", maxSandboxes=10, budget={"cpu": "6", "memory": "64Gi", "pods": 100})
    quota = {"cpu": "4", "memory": "8Gi", "pods": 20}
    cluster.apply_sandbox(cluster.ns, "one", sandbox_spec(tenant="budget", quota=quota))
    wait_for(lambda: phase(cluster, "one") in ACTIVE_PHASES, what="one admitted")
    cluster.apply_sandbox(cluster.ns, "two", sandbox_spec(tenant="budget", quota=quota))
    cond = wait_for(lambda: (c := cluster.ready_condition(cluster.ns, "two")).get("reason") == "Queued" and c,
                    what="two waits for budget")
    assert cond["message"] == (f"position 1 of 1 in tenant 'budget''s queue, waiting for budget: {cluster.ns}/two "
                               "needs cpu 4, memory 8Gi, pods 20 and the budget has cpu 2, memory 56Gi, pods 80 free; "
                               "it starts on its own when its turn comes")
    assert tenant_status(cluster, "budget")["budgetUsed"] == {"cpu": "4", "memory": "8Gi", "pods": 20}
    cluster.apply_sandbox(cluster.ns, "huge", sandbox_spec(tenant="budget", quota={**quota, "cpu": "8"}))
    cond = wait_for(lambda: (c := cluster.ready_condition(cluster.ns, "huge")).get("reason") == "BudgetTooSmall" and c,
                    what="huge refused")
    assert "cpu 8 > 6" in cond["message"] and phase(cluster, "huge") == "Failed"
    cluster.delete_sandbox(cluster.ns, "one")
    wait_for(lambda: phase(cluster, "two") in ACTIVE_PHASES, what="two admitted once one is gone")


def test_overflow_reject_refuses_and_max_queued_bounds_the_line(cluster, operator):
    make_tenant(cluster, "strict", maxSandboxes=1, overflow="Reject")
    cluster.apply_sandbox(cluster.ns, "first", sandbox_spec(tenant="strict"))
    wait_for(lambda: phase(cluster, "first") in ACTIVE_PHASES, what="first admitted")
    cluster.apply_sandbox(cluster.ns, "second", sandbox_spec(tenant="strict"))
    cond = wait_for(lambda: (c := cluster.ready_condition(cluster.ns, "second")).get("reason") == "TenantFull" and c,
                    what="second refused")
    assert "overflow is Reject" in cond["message"] and phase(cluster, "second") == "Failed"
    cluster.kube.patch(API, "SandboxTenant", "strict", {"spec": {"overflow": "Queue", "maxQueued": 1}})
    cluster.apply_sandbox(cluster.ns, "third", sandbox_spec(tenant="strict"))
    wait_for(lambda: status(cluster, "third").get("queuePosition") == 1, what="third waits")
    cluster.apply_sandbox(cluster.ns, "fourth", sandbox_spec(tenant="strict"))
    cond = wait_for(lambda: (c := cluster.ready_condition(cluster.ns, "fourth")).get("reason") == "QueueFull" and c,
                    what="fourth refused")
    assert "maxQueued 1" in cond["message"]
    assert reason(cluster, "second") == "TenantFull"  # a refusal holds until the spec changes
    cluster.delete_sandbox(cluster.ns, "first")
    wait_for(lambda: phase(cluster, "third") in ACTIVE_PHASES, what="third admitted")
    cluster.patch_sandbox(cluster.ns, "fourth", {"spec": {"ttl": "3h"}})  # a changed spec asks again
    wait_for(lambda: status(cluster, "fourth").get("queuePosition") == 1, what="fourth waits now")


def test_sandboxes_running_before_their_tenant_existed_are_adopted(cluster, operator):
    for name in ("old-1", "old-2"):
        cluster.apply_sandbox(cluster.ns, name, sandbox_spec(tenant="late"))
    wait_for(lambda: ready_all(cluster, ["old-1", "old-2"]), what="both Ready without a tenant")
    make_tenant(cluster, "late", maxSandboxes=1)
    wait_for(lambda: sorted(seated(cluster, "late")) == ["old-1", "old-2"], what="both adopted")
    cluster.apply_sandbox(cluster.ns, "new", sandbox_spec(tenant="late"))
    wait_for(lambda: status(cluster, "new").get("queuePosition") == 1, what="new waits: the tenant is over its limit")
    cluster.delete_sandbox(cluster.ns, "old-1")
    wait_for(lambda: seated(cluster, "late") == ["old-2"], what="old-1's seat released")
    # The pass that released it decided on "new" too: one seat of one is still taken.
    assert [q["sandbox"] for q in tenant_status(cluster, "late")["queue"]] == [f"{cluster.ns}/new"]
    cluster.delete_sandbox(cluster.ns, "old-2")
    wait_for(lambda: phase(cluster, "new") in ACTIVE_PHASES, what="new admitted once under the limit")


def test_default_ttl_counts_from_admission_and_max_lifetime_ends_waiting_sandboxes_too(cluster, operator):
    make_tenant(cluster, "life", maxSandboxes=1, defaultTtl="2h", maxLifetime="20s")
    spec = sandbox_spec(tenant="life")
    del spec["ttl"]
    cluster.apply_sandbox(cluster.ns, "runs", spec)
    wait_for(lambda: status(cluster, "runs").get("admittedAt"), what="runs admitted")
    cluster.apply_sandbox(cluster.ns, "waits", spec)
    wait_for(lambda: phase(cluster, "waits") == "Queued", what="waits queued")
    for name in ("runs", "waits"):
        body = cluster.sandbox(cluster.ns, name)
        created = body["metadata"]["creationTimestamp"]
        assert body["status"]["expiresAt"] == format_time(parse_time(created) + timedelta(seconds=20))
    wait_for(lambda: cluster.sandbox(cluster.ns, "runs") is None and cluster.sandbox(cluster.ns, "waits") is None,
             timeout=90, what="both deleted when the tenant's maxLifetime ran out")
    make_tenant(cluster, "ttl", defaultTtl="2h")
    cluster.apply_sandbox(cluster.ns, "plain", {**spec, "tenant": "ttl"})
    body = wait_for(lambda: (b := cluster.sandbox(cluster.ns, "plain")) and b.get("status", {}).get("expiresAt") and b,
                    what="plain's expiry")
    assert body["status"]["expiresAt"] == format_time(parse_time(body["status"]["admittedAt"]) + timedelta(hours=2))


def test_tenant_figures_are_prometheus_gauges(cluster, operator):
    from prometheus_client import REGISTRY

    make_tenant(cluster, "gauged", maxSandboxes=1, budget={"cpu": "10"})
    for name in ("g1", "g2"):
        cluster.apply_sandbox(cluster.ns, name, sandbox_spec(tenant="gauged"))

    def gauge(metric: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(metric, {"tenant": "gauged", **labels})

    wait_for(lambda: gauge("sandlot_tenant_sandboxes", state="queued") == 1
             and gauge("sandlot_tenant_sandboxes", state="active") == 1, what="gauges")
    assert gauge("sandlot_tenant_max_sandboxes") == 1
    assert gauge("sandlot_tenant_cpu_cores", amount="used") == 4 and gauge("sandlot_tenant_cpu_cores", amount="budget") == 10
    assert gauge("sandlot_tenant_memory_bytes", amount="used") == 8 * 2**30
    assert gauge("sandlot_tenant_memory_bytes", amount="budget") is None  # no memory budget: no limit to show


def test_a_conflicting_ledger_write_is_refused_by_the_api_server(cluster):
    """The optimistic concurrency admission relies on: a status patch carrying an old resourceVersion gets 409."""
    from kubernetes.client.exceptions import ApiException

    make_tenant(cluster, "cas")
    first = cluster.kube.get(API, "SandboxTenant", "cas")
    cluster.kube.patch(API, "SandboxTenant", "cas", {"metadata": {"resourceVersion": first["metadata"]["resourceVersion"]},
                                                     "status": {"active": 1}}, status=True)
    with pytest.raises(ApiException) as stale:
        cluster.kube.patch(API, "SandboxTenant", "cas", {
            "metadata": {"resourceVersion": first["metadata"]["resourceVersion"]}, "status": {"active": 2}}, status=True)
    assert stale.value.status == 409
    assert tenant_status(cluster, "cas")["active"] == 1


GUIDE_TENANT = Path(__file__).resolve().parents[2] / "docs" / "examples" / "tenants" / "payments-tenant.yaml"


def test_the_guide_shows_the_example_tenant_as_it_is_in_docs_examples():
    guide = (GUIDE_TENANT.parents[2] / "tenants.md").read_text()
    block = guide.split("# docs/examples/tenants/payments-tenant.yaml\n", 1)[1].split("```", 1)[0]
    example = "".join(line + "\n" for line in GUIDE_TENANT.read_text().splitlines() if not line.startswith("#"))
    assert block == example
    SandboxTenant.model_validate(yaml.safe_load(example))


@REAL_ONLY
def test_the_api_server_accepts_the_example_tenant_and_refuses_bad_levels(cluster):
    out = _kubectl(cluster, "apply", "--dry-run=server", "-f", str(GUIDE_TENANT))
    assert "sandboxtenant.sandlot.dev/payments created (server dry run)" in out
    # The API server checks the CEL rules only once the schema is satisfied: two objects, two sets of messages.
    for spec, expected in (
        ({"overflow": "Later", "idleAfter": "5 minutes"},
         ['spec.overflow: Unsupported value: "Later"', "spec.idleAfter: Invalid value: \"5 minutes\""]),
        ({"priorities": [{"name": "a", "value": 1}, {"name": "a", "value": 2}], "defaultPriority": "b"},
         ["priority level names must be unique", "defaultPriority must name one of spec.priorities"]),
    ):
        bad = {"apiVersion": API, "kind": "SandboxTenant", "metadata": {"name": "bad"}, "spec": spec}
        done = subprocess.run([str(_kubectl_path()), "--kubeconfig", str(cluster.plane.admin_kubeconfig), "apply",
                               "-f", "-"], input=yaml.safe_dump(bad), capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode != 0
        for message in expected:
            assert message in done.stderr, done.stderr

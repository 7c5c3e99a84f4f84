"""Admission's rules on exact inputs: seats, order, priorities, budget, overflow, adoption, sleep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sandlot.api.v1alpha1 import SandboxTenantSpec
from sandlot.reconcile.admission import (
    WAKE_ANNOTATION,
    Admitted,
    Claim,
    Decision,
    Ledger,
    Place,
    Queued,
    Seat,
    claim_from,
    decide,
    queued_message,
)
from sandlot.reconcile.lifetime import effective_ttl, expiry, format_time, parse_time
from sandlot.reconcile.quantity import Amounts, Limit, format_cpu, format_memory, parse_quantity
from sandlot.reconcile.tenancy import Refusal

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
SMALL = Amounts(1000, 2 * 2**30, 5)


def tenant(**spec) -> SandboxTenantSpec:
    return SandboxTenantSpec.model_validate(spec)


def claim(i: int, **kw) -> Claim:
    created = format_time(NOW - timedelta(seconds=100 - i))
    return Claim(**{"key": f"team/s{i:02d}", "uid": f"u{i}", "created": created, "requested_at": created,
                    "amounts": SMALL, **kw})


def run(t: SandboxTenantSpec, claims: list[Claim], ledger: Ledger | None = None) -> Decision:
    return decide("acme", t, ledger or Ledger(), claims, NOW)


def kinds(d: Decision) -> dict[str, str]:
    return {k: type(v).__name__ if not isinstance(v, Queued) else f"Queued{v.position}/{v.length}"
            for k, v in sorted(d.verdicts.items())}


def test_thirty_at_once_against_five_seats_admits_the_first_five_and_queues_the_rest_in_order():
    d = run(tenant(maxSandboxes=5), [claim(i) for i in range(30)])
    assert [s.key for s in d.ledger.seats] == [f"team/s{i:02d}" for i in range(5)]
    assert [p.key for p in d.ledger.queue] == [f"team/s{i:02d}" for i in range(5, 30)]
    assert d.verdicts["team/s05"] == Queued(1, 25, "a free slot (5 of maxSandboxes 5 active; sleeping sandboxes do not count)")
    assert d.verdicts["team/s29"].position == 25
    assert d.status()["active"] == 5 and d.status()["queued"] == 25
    assert d.status()["budgetUsed"] == {"cpu": "5", "memory": "10Gi", "pods": 25}


def test_a_later_pass_keeps_the_seats_and_a_delete_admits_the_next_in_line():
    t = tenant(maxSandboxes=5)
    claims = [claim(i) for i in range(30)]
    first = run(t, claims)
    again = decide("acme", t, first.ledger, claims, NOW + timedelta(minutes=5))
    assert again.ledger == first.ledger  # nothing changed: nothing to write
    deleting = [claim(0, present=False), *claims[1:]]
    after = decide("acme", t, first.ledger, deleting, NOW + timedelta(minutes=5))
    assert [s.key for s in after.ledger.seats] == ["team/s01", "team/s02", "team/s03", "team/s04", "team/s05"]
    assert after.ledger.seats[-1].admitted_at == "2026-12-01T12:05:00Z"  # the ttl counts from here
    assert after.verdicts["team/s06"] == Queued(1, 24, after.verdicts["team/s06"].waiting_for)


def test_a_pass_that_sees_only_part_of_a_burst_keeps_creation_order_in_the_next():
    t = tenant(maxSandboxes=2)
    early = run(t, [claim(i) for i in range(3)])
    later = decide("acme", t, early.ledger, [claim(i) for i in range(6)], NOW)
    assert [s.key for s in later.ledger.seats] == ["team/s00", "team/s01"]
    assert [p.key for p in later.ledger.queue] == ["team/s02", "team/s03", "team/s04", "team/s05"]


def test_a_recreated_sandbox_of_the_same_name_does_not_inherit_the_seat():
    t = tenant(maxSandboxes=1)
    first = run(t, [claim(0), claim(1)])
    again = format_time(NOW)
    renewed = decide("acme", t, first.ledger, [claim(0, uid="new", created=again, requested_at=again), claim(1)], NOW)
    assert [s.key for s in renewed.ledger.seats] == ["team/s01"]
    assert renewed.verdicts["team/s00"] == Queued(1, 1, renewed.verdicts["team/s00"].waiting_for)


def test_priorities_go_first_and_first_come_within_a_level():
    t = tenant(maxSandboxes=1, priorities=[{"name": "urgent", "value": 100}, {"name": "low", "value": -5}])
    d = run(t, [claim(0), claim(1, priority=-5), claim(2, priority=100), claim(3), claim(4, priority=100)])
    assert [s.key for s in d.ledger.seats] == ["team/s02"]
    assert [p.key for p in d.ledger.queue] == ["team/s04", "team/s00", "team/s03", "team/s01"]


def test_a_higher_priority_newcomer_goes_ahead_of_those_waiting_but_takes_no_seat():
    t = tenant(maxSandboxes=1)
    first = run(t, [claim(0), claim(1)])
    d = decide("acme", t, first.ledger, [claim(0), claim(1), claim(2, priority=10)], NOW)
    assert [s.key for s in d.ledger.seats] == ["team/s00"]
    assert [p.key for p in d.ledger.queue] == ["team/s02", "team/s01"]


def test_budget_is_the_sum_of_quotas_and_the_first_that_does_not_fit_stops_the_line():
    t = tenant(maxSandboxes=10, budget={"cpu": "3", "memory": "100Gi"})
    big = Amounts(2000, 2**30, 1)
    d = run(t, [claim(0), claim(1, amounts=big), claim(2, amounts=big), claim(3)])
    assert [s.key for s in d.ledger.seats] == ["team/s00", "team/s01"]
    assert [p.key for p in d.ledger.queue] == ["team/s02", "team/s03"]  # s03 would fit, but waits its turn
    assert d.waiting_for == ("budget: team/s02 needs cpu 2, memory 1Gi, pods 1 and the budget has "
                             "cpu 0, memory 97Gi free")


def test_a_quota_beyond_the_whole_budget_is_refused_instead_of_blocking_the_line():
    t = tenant(budget={"cpu": "4", "pods": 10})
    d = run(t, [claim(0, amounts=Amounts(8000, 0, 20)), claim(1)])
    refusal = d.verdicts["team/s00"]
    assert refusal == Refusal("BudgetTooSmall", "spec.quota: the sandbox needs more than tenant 'acme''s whole "
                              "budget (cpu 8 > 4; pods 20 > 10); lower spec.quota or ask the platform team to "
                              "raise the budget")
    assert [s.key for s in d.ledger.seats] == ["team/s01"]


def test_overflow_reject_refuses_at_once_but_keeps_those_already_waiting():
    queued = run(tenant(maxSandboxes=1), [claim(0), claim(1)])
    t = tenant(maxSandboxes=1, overflow="Reject")
    d = decide("acme", t, queued.ledger, [claim(0), claim(1), claim(2)], NOW)
    assert kinds(d) == {"team/s00": "Admitted", "team/s01": "Queued1/1", "team/s02": "Refusal"}
    assert d.verdicts["team/s02"].reason == "TenantFull"
    assert "overflow is Reject" in d.verdicts["team/s02"].message


def test_max_queued_refuses_newcomers_and_never_bumps_one_already_waiting():
    t = tenant(maxSandboxes=1, maxQueued=2)
    first = run(t, [claim(0), claim(1), claim(2), claim(3)])
    assert kinds(first) == {"team/s00": "Admitted", "team/s01": "Queued1/2", "team/s02": "Queued2/2",
                            "team/s03": "Refusal"}
    assert first.verdicts["team/s03"].reason == "QueueFull"
    urgent = decide("acme", t, first.ledger, [claim(0), claim(1), claim(2), claim(4, priority=9)], NOW)
    assert urgent.verdicts["team/s04"].reason == "QueueFull"
    assert [p.key for p in urgent.ledger.queue] == ["team/s01", "team/s02"]


def test_refused_sandboxes_stay_refused_until_their_spec_changes():
    t = tenant(maxSandboxes=1, overflow="Reject")
    d = run(t, [claim(0, present=False), claim(1, refused=True)])
    assert d.ledger == Ledger() and "team/s01" not in d.verdicts


def test_running_sandboxes_unknown_to_the_ledger_are_adopted_even_over_the_limit():
    t = tenant(maxSandboxes=1)
    d = run(t, [claim(0, running=True, admitted_at="2026-11-30T00:00:00Z"), claim(1, running=True), claim(2)])
    assert [(s.key, s.admitted_at) for s in d.ledger.seats] == [
        ("team/s00", "2026-11-30T00:00:00Z"), ("team/s01", claim(1).created)]
    assert d.verdicts["team/s02"].position == 1


def test_sleeping_sandboxes_free_their_seat_and_a_wake_queues_behind_those_waiting():
    t = tenant(maxSandboxes=1)
    first = run(t, [claim(0), claim(1)])
    asleep = decide("acme", t, first.ledger, [claim(0, asleep=True), claim(1)], NOW)
    assert [s.key for s in asleep.ledger.seats] == ["team/s01"] and asleep.status()["sleeping"] == 1
    woken = claim(0, admitted_at="2026-12-01T11:00:00Z", requested_at="2026-12-01T12:00:00Z")
    waking = decide("acme", t, asleep.ledger, [woken, claim(1), claim(2)], NOW)
    assert [p.key for p in waking.ledger.queue] == ["team/s02", "team/s00"]  # s02 asked before the wake
    freed = decide("acme", t, waking.ledger, [woken, claim(1, present=False), claim(2, present=False)], NOW)
    assert freed.verdicts["team/s00"] == Admitted("2026-12-01T11:00:00Z")  # its ttl still counts from then


def test_static_refusals_are_verdicts_and_take_no_place():
    t = tenant(maxSandboxes=1)
    no = Refusal("PriorityUnknown", "spec.priority: ...")
    d = run(t, [claim(0, refusal=no), claim(1), claim(2)])
    assert d.verdicts["team/s00"] == no and [s.key for s in d.ledger.seats] == ["team/s01"]


def test_the_ledger_reads_back_what_it_writes():
    d = run(tenant(maxSandboxes=2, priorities=[{"name": "hi", "value": 3}]),
            [claim(0, priority=3), claim(1), claim(2)])
    status = d.status()
    assert Ledger.from_status(status) == d.ledger
    assert status["admitted"][0] == {"sandbox": "team/s00", "uid": "u0", "admittedAt": "2026-12-01T12:00:00Z",
                                     "priority": 3, "cpu": "1", "memory": "2Gi", "pods": 5}
    assert status["queue"] == [{"sandbox": "team/s02", "uid": "u2", "priority": 0}]
    assert d.ledger.place("team/s02", "u2") == 1 and d.ledger.place("team/s02", "other") is None
    assert d.ledger.seat("team/s00", "u0") == Seat("team/s00", "u0", "2026-12-01T12:00:00Z", 3, SMALL)
    assert Place("team/s02", "u2") in d.ledger.queue


def test_queued_message_says_the_place_and_what_the_line_waits_for():
    assert queued_message("acme", Queued(3, 25, "a free slot")) == (
        "position 3 of 25 in tenant 'acme''s queue, waiting for a free slot; it starts on its own when its turn comes")


def _body(name: str, *, spec: dict | None = None, status: dict | None = None, **meta) -> dict:
    return {"metadata": {"name": name, "namespace": "team", "uid": f"uid-{name}", "generation": 1,
                         "creationTimestamp": "2026-12-01T11:00:00Z", **meta},
            "spec": {"app": {"image": "ghcr.io/acme/app:1"}, "tenant": "acme", **(spec or {})},
            "status": status or {}}


def test_claim_from_a_body():
    t = tenant(priorities=[{"name": "hi", "value": 7}], defaultPriority="hi")
    c = claim_from(_body("a", spec={"quota": {"cpu": "500m", "memory": "1Gi", "pods": 3}}), t, "acme", NOW)
    assert c == Claim(key="team/a", uid="uid-a", created="2026-12-01T11:00:00Z", priority=7,
                      requested_at="2026-12-01T11:00:00Z", amounts=Amounts(500, 2**30, 3))
    unknown = claim_from(_body("b", spec={"priority": "nope"}), t, "acme", NOW)
    assert unknown.refusal.reason == "PriorityUnknown" and "(levels: hi)" in unknown.refusal.message
    deleting = claim_from(_body("c", deletionTimestamp="2026-12-01T11:59:00Z"), t, "acme", NOW)
    assert not deleting.present


def test_claim_from_a_sleeping_body_and_a_wake_request():
    status = {"phase": "Sleeping", "namespace": "sbx-x", "sleepingSince": "2026-12-01T11:30:00Z",
              "admittedAt": "2026-12-01T11:00:00Z"}
    asleep = claim_from(_body("a", status=status), tenant(), "acme", NOW)
    assert asleep.asleep and not asleep.running
    waking = claim_from(_body("a", status=status, annotations={WAKE_ANNOTATION: "now"}), tenant(), "acme", NOW)
    assert not waking.asleep and waking.requested_at == "2026-12-01T12:00:00Z"
    recorded = claim_from(_body("a", status={**status, "wakeRequestedAt": "2026-12-01T11:45:00Z"},
                                annotations={WAKE_ANNOTATION: "now"}), tenant(), "acme", NOW)
    assert recorded.requested_at == "2026-12-01T11:45:00Z"


def test_claim_from_an_expired_or_refused_body():
    life = tenant(maxLifetime="30m")
    assert not claim_from(_body("a"), life, "acme", NOW).present  # created 11:00, now 12:00
    refused = _body("b", status={"phase": "Failed", "observedGeneration": 1, "conditions": [
        {"type": "Ready", "status": "False", "reason": "QueueFull", "message": "..."}]})
    assert claim_from(refused, tenant(), "acme", NOW).refused
    refused["metadata"]["generation"] = 2  # the spec changed: it asks again
    assert not claim_from(refused, tenant(), "acme", NOW).refused


# ----- quantities and lifetime -----------------------------------------------------------------


@pytest.mark.parametrize("text, value", [("500m", 0.5), ("4", 4), ("8Gi", 8 * 2**30), ("1.5", 1.5), ("2k", 2000)])
def test_parse_quantity(text, value):
    assert parse_quantity(text) == value


def test_quantities_format_back_exactly():
    assert (format_cpu(4000), format_cpu(1500), format_memory(8 * 2**30), format_memory(1536 * 2**20),
            format_memory(1000)) == ("4", "1500m", "8Gi", "1536Mi", "1000")
    assert Amounts.of("250m", "512Mi", 2) == Amounts(250, 512 * 2**20, 2)
    assert Limit.of("1", None, 3).excess(Amounts(1500, 10**12, 4)) == ["cpu 1500m > 1", "pods 4 > 3"]
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse_quantity("lots")


def test_expiry_counts_the_ttl_from_admission_and_max_lifetime_from_creation():
    created = "2026-12-01T10:00:00Z"
    t = tenant(defaultTtl="2h", maxLifetime="3h")
    waiting = expiry(created=created, admitted_at=None, ttl=None, tenant=t, tenant_name="acme")
    assert (waiting.at, waiting.limit) == (parse_time("2026-12-01T13:00:00Z"), "maxLifetime")
    early = expiry(created=created, admitted_at="2026-12-01T10:30:00Z", ttl=None, tenant=t, tenant_name="acme")
    assert (early.at, early.describe) == (parse_time("2026-12-01T12:30:00Z"), "ttl 2h")
    late = expiry(created=created, admitted_at="2026-12-01T11:30:00Z", ttl="2h", tenant=t, tenant_name="acme")
    assert (late.at, late.describe) == (parse_time("2026-12-01T13:00:00Z"), "tenant 'acme' maxLifetime 3h")
    assert expiry(created=created, admitted_at=None, ttl="1h", tenant=None).at is None
    assert (effective_ttl(None, None), effective_ttl(None, t), effective_ttl("5m", t)) == ("24h", "2h", "5m")


def test_tenant_spec_is_checked_for_consistency():
    with pytest.raises(ValueError, match="defaultPriority: 'x' is not one of spec.priorities"):
        tenant(defaultPriority="x")
    with pytest.raises(ValueError, match="the level name 'a' is used twice"):
        tenant(priorities=[{"name": "a", "value": 1}, {"name": "a", "value": 2}])
    with pytest.raises(ValueError, match="defaultTtl: 8d is longer than maxTtl 7d"):
        tenant(defaultTtl="8d")

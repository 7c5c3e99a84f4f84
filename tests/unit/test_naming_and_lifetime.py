"""Names, labels, ttl arithmetic, conditions and readiness verdicts: pure functions, exact outputs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from sandlot.reconcile import naming
from sandlot.reconcile.conditions import set_condition
from sandlot.reconcile.lifetime import expires_at, is_expired, parse_ttl
from sandlot.reconcile.readiness import assess

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_namespace_is_deterministic_readable_and_short():
    assert naming.sandbox_namespace("team", "pr-1") == naming.sandbox_namespace("team", "pr-1")
    assert naming.sandbox_namespace("team", "pr-1").startswith("sbx-team-pr-1-")
    long = naming.sandbox_namespace("a" * 63, "b" * 253)
    assert len(long) <= 63 and DNS_LABEL.match(long)


def test_namespaces_of_names_that_share_a_long_prefix_differ():
    a = naming.sandbox_namespace("team", "feature-" + "x" * 40 + "-one")
    b = naming.sandbox_namespace("team", "feature-" + "x" * 40 + "-two")
    assert a != b and len(a) <= 63 and len(b) <= 63
    # A dot or upper case in a name is folded into a valid label.
    assert DNS_LABEL.match(naming.sandbox_namespace("Team.A", "my.sbx"))


def test_label_values_are_cut_with_a_digest():
    assert naming.label_value("short") == "short"
    cut = naming.label_value("n" * 100)
    assert len(cut) <= 63 and cut != naming.label_value("n" * 99 + "m")


@pytest.mark.parametrize("ttl, delta", [("90m", timedelta(minutes=90)), ("72h", timedelta(hours=72)),
                                        ("7d", timedelta(days=7))])
def test_parse_ttl(ttl, delta):
    assert parse_ttl(ttl) == delta


@pytest.mark.parametrize("ttl", ["", "0h", "1w", "h", "-1h", "1.5h", "10"])
def test_parse_ttl_refuses_what_it_cannot_read(ttl):
    with pytest.raises(ValueError, match="e.g. 90m, 72h, 7d"):
        parse_ttl(ttl)


def test_expiry_is_computed_from_creation():
    assert expires_at("2026-01-01T00:00:00Z", "2h") == datetime(2026, 1, 1, 2, tzinfo=UTC)
    assert not is_expired("2026-01-01T00:00:00Z", "2h", datetime(2026, 1, 1, 1, 59, tzinfo=UTC))
    assert is_expired("2026-01-01T00:00:00Z", "2h", datetime(2026, 1, 1, 2, tzinfo=UTC))


def test_condition_transition_time_moves_only_on_status_change():
    conds = set_condition(None, type_="Ready", status=False, reason="Provisioning", message="a", now="t1")
    conds = set_condition(conds, type_="Ready", status=False, reason="Provisioning", message="b", now="t2")
    assert conds == [{"type": "Ready", "status": "False", "reason": "Provisioning", "message": "b",
                      "lastTransitionTime": "t1"}]
    conds = set_condition(conds, type_="Ready", status=True, reason="Ready", message="ok", now="t3", generation=4)
    assert conds[0]["lastTransitionTime"] == "t3" and conds[0]["observedGeneration"] == 4


def _deployment(name, replicas=1, available=1, generation=1, observed=1):
    return {"metadata": {"name": name, "generation": generation}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "updatedReplicas": available,
                       "availableReplicas": available}}


def test_readiness_waits_for_every_deployment_and_job():
    verdict = assess([_deployment("app", available=0), _deployment("stub-a")],
                     [{"metadata": {"name": "seed", "namespace": "n"}, "status": {}}], [])
    assert (verdict.ready, verdict.reason) == (False, "Provisioning")
    assert verdict.message == "Deployments not yet available: app; Jobs not yet complete: seed"
    assert assess([_deployment("app", generation=2, observed=1)], [], []).ready is False
    assert assess([_deployment("app")], [], []).ready is True


def test_readiness_names_the_field_of_an_unpullable_image():
    pod = {"metadata": {"name": "stub-x-1", "namespace": "n",
                        "labels": {"app.kubernetes.io/component": "stub", "sandlot.dev/downstream": "x"}},
           "status": {"containerStatuses": [{"name": "stub", "image": "img:bad",
                                             "state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}}]}}
    verdict = assess([_deployment("stub-x", available=0)], [], [pod])
    assert verdict.failed and verdict.reason == "ImagePullFailed"
    assert "downstream 'x'" in verdict.message and "SANDLOT_STUB_IMAGE" in verdict.message


def test_failed_seed_job_fails_the_sandbox():
    job = {"metadata": {"name": "sandlot-seed", "namespace": "n"},
           "status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    verdict = assess([_deployment("app")], [job], [])
    assert verdict.failed and verdict.reason == "SeedJobFailed" and "spec.seed.job" in verdict.message

"""When an awake sandbox is idle enough to sleep: exact verdicts from stub readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sandlot.reconcile.idle import IdleVerdict, Reading, idle_verdict

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
AWAKE = NOW - timedelta(hours=2)


def at(minutes_ago: int) -> datetime:
    return NOW - timedelta(minutes=minutes_ago)


def test_idle_after_the_last_request_to_any_stub():
    readings = [Reading("pets", at(100), at(40)), Reading("cards", at(100), at(31))]
    assert idle_verdict(readings, awake_since=AWAKE, idle_after=timedelta(minutes=30), now=NOW) == IdleVerdict(
        True, at(31), "no request reached its stubs since 2026-12-01T11:29:00Z (31m; idleAfter 30m)")
    assert not idle_verdict(readings, awake_since=AWAKE, idle_after=timedelta(minutes=45), now=NOW).sleep


def test_a_stub_that_never_served_counts_from_its_start_and_the_wake_is_a_floor():
    fresh = [Reading("pets", at(10), None)]
    assert idle_verdict(fresh, awake_since=AWAKE, idle_after=timedelta(minutes=30), now=NOW) == IdleVerdict(
        False, at(10), "last request 2026-12-01T11:50:00Z")
    old = [Reading("pets", at(500), at(400))]
    woken = idle_verdict(old, awake_since=at(20), idle_after=timedelta(minutes=30), now=NOW)
    assert not woken.sleep and woken.last_activity == at(20)


def test_no_signal_never_sleeps():
    assert idle_verdict([], awake_since=AWAKE, idle_after=timedelta(seconds=1), now=NOW) == IdleVerdict(
        False, None, "it has no stub whose requests can be observed")
    broken = [Reading("pets", at(100), at(90)), Reading("cards", error="connection refused")]
    assert idle_verdict(broken, awake_since=AWAKE, idle_after=timedelta(seconds=1), now=NOW) == IdleVerdict(
        False, None, "stub cards: connection refused")


def test_readings_from_the_activity_answer():
    assert Reading.of("pets", {"startedAt": "2026-12-01T11:00:00Z", "lastRequestAt": None, "requests": 0}) == \
        Reading("pets", at(60), None)
    assert Reading.of("pets", {"startedAt": "2026-12-01T11:00:00Z", "lastRequestAt": "2026-12-01T11:59:00Z"}) == \
        Reading("pets", at(60), at(1))
    assert Reading.of("pets", {"nonsense": 1}).error.startswith("unreadable activity answer")

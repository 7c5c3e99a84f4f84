"""Judges one run's measurements against issue 3's speed targets (pure functions).

Called by the report. Every target is a ratio within the same run, so a busy machine slows both
servers alike. A verdict is PASS, FAIL or n/a (a figure is missing, or a server answered errors
under load, which would make a ratio meaningless).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.results import LoadFigures, RunResults, StartupRow
from bench.servers import PRISM, SANDLOT

EXAMPLES_RPS_RATIO = 3.0
EXAMPLES_P99_RATIO = 0.5
DYNAMIC_RPS_RATIO = 20.0
#: Issue 17: a new id in every request defeats the answer cache; Prism's dynamic mode is slower
#: there too, so the bar is lower than for repeated requests.
DYNAMIC_NEW_ID_RPS_RATIO = 5.0
GITHUB_STARTUP_RATIO = 0.25
STRIPE_STARTUP_S = 5.0
#: Issue 17: the first answer within a second of the process start, on any real spec up to 15 MB.
FIRST_ANSWER_S = 1.0
RSS_RATIO = 0.5
JOURNAL_RPS_RATIO = 0.9  # issue 13: journaling costs the stateless mock at most 10 % of its throughput


@dataclass(frozen=True)
class Verdict:
    """One target, what was measured against it, and the verdict."""

    target: str
    measured: str
    verdict: str  # PASS, FAIL or n/a


def _ok(condition: bool) -> str:
    return "PASS" if condition else "FAIL"


def _both_loads(figures: dict[str, LoadFigures]) -> tuple[LoadFigures, LoadFigures, str]:
    """Return Sandlot's and Prism's figures and why they cannot be compared ('' if they can)."""
    ours, theirs = figures.get(SANDLOT, LoadFigures()), figures.get(PRISM, LoadFigures())
    for name, fig in ((SANDLOT, ours), (PRISM, theirs)):
        if fig.load is None:
            return ours, theirs, f"{name}: {fig.problem or 'not measured'}"
        if fig.load.bad_responses or fig.load.socket_errors:
            return ours, theirs, (
                f"{name} had {fig.load.bad_responses} non-2xx answers and {fig.load.socket_errors} socket errors")
    return ours, theirs, ""


def throughput_verdicts(results: RunResults) -> list[Verdict]:
    """Judge req/s and p99 (examples), req/s (dynamic) and peak RSS for every load scenario."""
    verdicts = []
    for row in results.throughput:
        ours, theirs, why_not = _both_loads(row.figures)
        if row.kind == "examples":
            target = f"{row.name}: req/s >= {EXAMPLES_RPS_RATIO:g}x Prism and p99 <= {EXAMPLES_P99_RATIO:g}x Prism"
        else:
            wanted = DYNAMIC_NEW_ID_RPS_RATIO if row.kind == "dynamic_new_id" else DYNAMIC_RPS_RATIO
            target = f"{row.name}: req/s >= {wanted:g}x Prism"
        if why_not:
            verdicts.append(Verdict(target, why_not, "n/a"))
        else:
            rps = ours.load.rps / theirs.load.rps
            if row.kind == "examples":
                p99 = ours.load.p99_ms / theirs.load.p99_ms
                verdicts.append(Verdict(
                    target, f"req/s {rps:.2f}x, p99 {p99:.2f}x",
                    _ok(rps >= EXAMPLES_RPS_RATIO and p99 <= EXAMPLES_P99_RATIO)))
            else:
                verdicts.append(Verdict(target, f"req/s {rps:.2f}x", _ok(rps >= wanted)))
        rss_target = f"{row.name}: peak RSS <= {RSS_RATIO:g}x Prism"
        if ours.peak_rss_mib and theirs.peak_rss_mib:
            ratio = ours.peak_rss_mib / theirs.peak_rss_mib
            verdicts.append(Verdict(
                rss_target, f"{ours.peak_rss_mib:.0f} / {theirs.peak_rss_mib:.0f} MiB = {ratio:.2f}x",
                _ok(ratio <= RSS_RATIO)))
        else:
            verdicts.append(Verdict(rss_target, "not measured", "n/a"))
    return verdicts


def _no_time_verdict(problem: str) -> str:
    """Return FAIL when the server was too slow to start, n/a when it could not run at all."""
    return "FAIL" if "did not start within" in problem else "n/a"


def _startup_row(results: RunResults, spec: str) -> StartupRow | None:
    return next((row for row in results.startup if row.spec == spec), None)


def startup_verdicts(results: RunResults) -> list[Verdict]:
    """Judge start-up on GitHub's spec (relative to Prism) and on Stripe's (absolute)."""
    verdicts = []
    github = _startup_row(results, "api.github.com")
    if github:
        target = f"start-up on api.github.com <= {GITHUB_STARTUP_RATIO:g}x Prism"
        ours, theirs = github.figures.get(SANDLOT), github.figures.get(PRISM)
        if ours is None or ours.seconds is None:
            problem = ours.problem if ours else "not measured"
            verdicts.append(Verdict(target, f"Sandlot: {problem}", _no_time_verdict(problem)))
        elif theirs is not None and theirs.seconds is not None:
            ratio = ours.seconds / theirs.seconds
            verdicts.append(Verdict(
                target, f"{ours.seconds:.2f} s / {theirs.seconds:.2f} s = {ratio:.2f}x",
                _ok(ratio <= GITHUB_STARTUP_RATIO)))
        elif theirs is not None and "did not start within" in theirs.problem:
            # Prism took longer than the cap, so any Sandlot time under a quarter of it passes.
            bound = github.cap_s * GITHUB_STARTUP_RATIO
            verdicts.append(Verdict(
                target, f"{ours.seconds:.2f} s; Prism > {github.cap_s:.0f} s",
                "PASS" if ours.seconds <= bound else "n/a"))
        else:
            verdicts.append(Verdict(target, f"Prism: {theirs.problem if theirs else 'not measured'}", "n/a"))
    stripe = _startup_row(results, "stripe.com")
    if stripe:
        target = f"start-up on stripe.com < {STRIPE_STARTUP_S:g} s"
        ours = stripe.figures.get(SANDLOT)
        if ours is None or ours.seconds is None:
            problem = ours.problem if ours else "not measured"
            verdicts.append(Verdict(target, f"Sandlot: {problem}", _no_time_verdict(problem)))
        else:
            verdicts.append(Verdict(target, f"{ours.seconds:.2f} s", _ok(ours.seconds < STRIPE_STARTUP_S)))
    for row in results.startup:
        ours = row.figures.get(SANDLOT)
        target = f"start-up on {row.spec}: first answer <= {FIRST_ANSWER_S:g} s"
        if ours is None or ours.seconds is None:
            problem = ours.problem if ours else "not measured"
            verdicts.append(Verdict(target, f"Sandlot: {problem}", _no_time_verdict(problem)))
        else:
            verdicts.append(Verdict(target, f"{ours.seconds:.2f} s", _ok(ours.seconds <= FIRST_ANSWER_S)))
    return verdicts


def journal_verdicts(results: RunResults) -> list[Verdict]:
    """Judge the journal's cost: the requests one server CPU-second serves with the journal on are
    at least JOURNAL_RPS_RATIO of those with it off (the wall-clock req/s ratio is shown too: on a
    shared machine it moves with everyone else's load)."""
    verdicts = []
    for row in results.journal:
        on, off = row.figures.get("journal on", LoadFigures()), row.figures.get("journal off", LoadFigures())
        target = f"{row.name}: journal on >= {JOURNAL_RPS_RATIO:g}x journal off (requests per server CPU-second)"
        if on.load is None or off.load is None or not on.cpu_us_per_request or not off.cpu_us_per_request:
            verdicts.append(Verdict(target, (on.problem or off.problem or "not measured"), "n/a"))
            continue
        ratio = off.cpu_us_per_request / on.cpu_us_per_request
        verdicts.append(Verdict(target, f"{ratio:.2f}x ({on.cpu_us_per_request:.0f} vs "
                                        f"{off.cpu_us_per_request:.0f} us of server CPU per request; "
                                        f"wall req/s {on.load.rps / off.load.rps:.2f}x)",
                                _ok(ratio >= JOURNAL_RPS_RATIO)))
    return verdicts


def all_verdicts(results: RunResults) -> list[Verdict]:
    """Judge every target the run has figures for."""
    return throughput_verdicts(results) + startup_verdicts(results) + journal_verdicts(results)

"""Runs schemathesis against the live Sandlot mock for one spec and summarises its JSON report.

Called by the runner for each shared spec (issue 3: every response the engine produces must
validate against the spec). Checks: not_a_server_error plus the four response-conformance checks.
`summarise_report` is pure: schemathesis codes ST101-ST102 are server errors, ST103-ST111 are
non-conforming responses (status, content type, headers, body schema, unparsable bodies).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
PHASES_FULL = "examples,coverage,fuzzing"
PHASES_LARGE = "examples,fuzzing"   # the coverage phase alone takes minutes per hundred operations
SERVER_ERROR_CODES = {"ST101", "ST102"}
NONCONFORMING_CODES = {f"ST1{n:02d}" for n in range(3, 12)}


@dataclass(frozen=True)
class ConformanceResult:
    """What schemathesis found on one spec (None figures when it could not run)."""

    spec: str
    operations_tested: int | None = None
    operations_selected: int | None = None
    test_cases: int | None = None
    nonconforming: int | None = None
    server_errors: int | None = None
    errored: int | None = None          # test cases schemathesis could not complete
    detail: str = ""                    # failure titles by code, or why the run did not happen
    breakdown: str = ""                 # failing checks by code, input kind and received status
    how: str = ""                       # phases run, and whether the spec was bundled first


def failing_checks(events: list[dict]) -> Counter:
    """Count failing checks in schemathesis's NDJSON events by (code, input mode, received status).

    The input mode says whether schemathesis sent a request the spec allows (positive) or one it
    forbids (negative); a non-conforming answer to a positive request is the more serious finding.
    """
    found: Counter = Counter()
    for event in events:
        recorder = (event.get("ScenarioFinished") or {}).get("recorder") or {}
        cases, interactions = recorder.get("cases", {}), recorder.get("interactions", {})
        for case_id, checks in (recorder.get("checks") or {}).items():
            for check in checks:
                failure = ((check.get("failure_info") or {}).get("failure")) or {}
                if check.get("status") != "failure" or not failure.get("code"):
                    continue
                meta = ((cases.get(case_id) or {}).get("value") or {}).get("meta") or {}
                mode = (meta.get("generation") or {}).get("mode", "?")
                response = (interactions.get(case_id) or {}).get("response") or {}
                found[(failure["code"], mode, response.get("status_code", "-"))] += 1
    return found


def describe_breakdown(found: Counter, limit: int = 6) -> str:
    """Render the commonest (code, mode, status) triples, e.g. `ST103 negative 422 x12`."""
    return "; ".join(f"{code} {mode} {status} x{n}" for (code, mode, status), n in found.most_common(limit))


def summarise_report(spec: str, report: dict, breakdown: str = "") -> ConformanceResult:
    """Turn schemathesis's JSON report into counts per kind of failure."""
    counts = {"server": 0, "nonconforming": 0}
    titles = []
    for group in report.get("failures", []):
        code, count = group.get("code", ""), int(group.get("count", 0))
        kind = "server" if code in SERVER_ERROR_CODES else "nonconforming" if code in NONCONFORMING_CODES else None
        if kind:
            counts[kind] += count
        titles.append(f"{code} {group.get('title', '')} x{count}")
    errors = report.get("errors", [])
    titles += [f"error: {e.get('title', '')} x{e.get('count', 1)}" for e in errors]
    operations = report.get("operations", {})
    return ConformanceResult(
        spec=spec,
        operations_tested=operations.get("tested"),
        operations_selected=operations.get("selected"),
        test_cases=report.get("test_cases", {}).get("generated"),
        nonconforming=counts["nonconforming"],
        server_errors=counts["server"],
        errored=sum(int(e.get("count", 1)) for e in errors),
        detail="; ".join(titles),
        breakdown=breakdown,
    )


def schemathesis_argv(
    spec: Path, base_url: str, auth: list[str], max_examples: int, phases: str, report: Path,
) -> list[str]:
    """Build the schemathesis command for one spec against a live server."""
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    return [
        exe, "run", str(spec), "--url", base_url, "--checks", ",".join(CHECKS), "--phases", phases,
        "--max-examples", str(max_examples), "--seed", "1", "--request-timeout", "10",
        "--generation-database", "none", "--no-color", "--report", "json,ndjson",
        "--report-json-path", str(report), "--report-ndjson-path", str(report.with_suffix(".ndjson")), *auth,
    ]


def run_schemathesis(
    spec: Path, base_url: str, auth: list[str], max_examples: int, phases: str, timeout_s: float,
    workdir: Path,
) -> ConformanceResult:
    """Run schemathesis once, bounded in time, and summarise what it found."""
    workdir.mkdir(parents=True, exist_ok=True)
    report = workdir / f"schemathesis-{spec.stem}.json"
    report.unlink(missing_ok=True)
    report.with_suffix(".ndjson").unlink(missing_ok=True)
    argv = schemathesis_argv(spec, base_url, auth, max_examples, phases, report)
    try:
        done = subprocess.run(
            argv, cwd=workdir, capture_output=True, text=True, timeout=timeout_s, check=False,
        )
    except subprocess.TimeoutExpired:
        return ConformanceResult(spec.name, detail=f"schemathesis did not finish within {timeout_s:.0f} s")
    if not report.exists():
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
        return ConformanceResult(spec.name, detail=f"schemathesis wrote no report (exit {done.returncode}): {tail}")
    events_path = report.with_suffix(".ndjson")
    events = [json.loads(line) for line in events_path.open()] if events_path.exists() else []
    return summarise_report(spec.name, json.loads(report.read_text()), describe_breakdown(failing_checks(events)))

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
from dataclasses import dataclass
from pathlib import Path

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
PHASES = "examples,coverage,fuzzing"
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


def summarise_report(spec: str, report: dict) -> ConformanceResult:
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
    )


def schemathesis_argv(spec: Path, base_url: str, auth: list[str], max_examples: int, report: Path) -> list[str]:
    """Build the schemathesis command for one spec against a live server."""
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    return [
        exe, "run", str(spec), "--url", base_url, "--checks", ",".join(CHECKS), "--phases", PHASES,
        "--max-examples", str(max_examples), "--seed", "1", "--request-timeout", "10",
        "--generation-database", "none", "--no-color", "--report", "json",
        "--report-json-path", str(report), *auth,
    ]


def run_schemathesis(
    spec: Path, base_url: str, auth: list[str], max_examples: int, timeout_s: float, workdir: Path,
) -> ConformanceResult:
    """Run schemathesis once, bounded in time, and summarise what it found."""
    workdir.mkdir(parents=True, exist_ok=True)
    report = workdir / f"schemathesis-{spec.stem}.json"
    report.unlink(missing_ok=True)
    argv = schemathesis_argv(spec, base_url, auth, max_examples, report)
    try:
        done = subprocess.run(
            argv, cwd=workdir, capture_output=True, text=True, timeout=timeout_s, check=False,
        )
    except subprocess.TimeoutExpired:
        return ConformanceResult(spec.name, detail=f"schemathesis did not finish within {timeout_s:.0f} s")
    if not report.exists():
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
        return ConformanceResult(spec.name, detail=f"schemathesis wrote no report (exit {done.returncode}): {tail}")
    return summarise_report(spec.name, json.loads(report.read_text()))
